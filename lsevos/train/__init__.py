"""lsevos.train"""
