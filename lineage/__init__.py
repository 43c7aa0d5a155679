"""Graph-based lineage engine for medical images.

Where every copy of an image is, under which retention, and what breaks when a system goes.
"""

__version__ = "0.1.0"
