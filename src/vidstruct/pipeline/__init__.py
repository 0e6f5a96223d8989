"""vidstruct.pipeline"""
