"""aistack.catalog"""
