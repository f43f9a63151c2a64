"""Console URLs of the job log (namespace "console", assembled in mcp_platform/urls.py)."""

from django.urls import path

from . import views

console_urlpatterns = [
    path("<str:slug>/jobs/", views.JobsView.as_view(), name="jobs"),
    path("<str:slug>/jobs/<str:run_id>/cancel", views.JobCancelView.as_view(), name="job-cancel"),
]
