"""lsevos.data"""
