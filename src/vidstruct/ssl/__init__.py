"""vidstruct.ssl"""
