"""lsevos.evaluation"""
