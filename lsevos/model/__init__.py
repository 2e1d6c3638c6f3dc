"""lsevos.model"""
