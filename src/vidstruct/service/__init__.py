"""vidstruct.service"""
