"""vidstruct.eval"""
