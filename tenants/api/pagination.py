from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    """Stable pages under concurrent inserts; opaque cursors leak no offsets or counts."""

    ordering = "-created_at"
    page_size_query_param = "page_size"
    max_page_size = 200
