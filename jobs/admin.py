from django.contrib import admin

from .models import JobRun


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "status", "done", "total", "created_at", "finished_at")
    list_filter = ("status", "name")
    readonly_fields = [f.name for f in JobRun._meta.fields]
