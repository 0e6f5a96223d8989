"""vidstruct.engine"""
