"""Content sources: news (JSON Lines, feeds) and guides (Markdown) into a Catalog."""

from newsletter.sources.catalog import LoadResult, load_content

__all__ = ["LoadResult", "load_content"]
