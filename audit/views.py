"""Console pages of the audit log: explorer, event detail, exports, verification, sinks and settings.

They stand on the tenant console base (``tenants.console.TenantConsoleMixin``), as every app's console pages
may; every read goes through audit.selectors and every write through audit.services, scoped to
``self.tenant``. The recent exports are the job log's rows of the export job (audit/tasks.py).
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views import View
from django.views.generic import TemplateView

from jobs.models import JobRun, JobStatus
from kit.errors import ApplicationError, add_to_form
from kit.stepup import StepUpMixin
from tenants.console import TenantConsoleMixin
from tenants.models import CONSOLE_ROLES, Role

from . import export, failures, selectors, services
from .events import REGISTRY
from .models import AuditTenantSettings, IPTruncation, Severity, SinkState
from .tasks import export_events, export_path

PAGE = 100


class FilterForm(forms.Form):
    """Only for rendering; parsing is EventFilter.from_query, shared with the API and exports."""

    since = forms.CharField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.CharField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    actor = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "e-mail or id"}))
    action = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "client. or client.created",
                                                                           "list": "audit-actions"}))
    target_type = forms.CharField(required=False)
    target_id = forms.CharField(required=False)
    severity = forms.ChoiceField(required=False, choices=[("", "any")] + list(Severity.choices))
    client = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "client_id"}))
    resource = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "https://…/mcp"}))
    ip = forms.CharField(required=False)


class AuditSettingsForm(forms.ModelForm):
    class Meta:
        model = AuditTenantSettings
        fields = ["retention_days", "ip_truncation"]

    def __init__(self, *args, instance=None, **kwargs):
        super().__init__(*args, instance=instance, **kwargs)
        if instance is not None and instance.pending_retention_days:
            # The form shows what the owners decided; saving it unchanged must not cancel the pending change.
            self.initial["retention_days"] = instance.pending_retention_days


class SinkForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.CharField(max_length=500, label="HTTPS webhook URL")
    from_start = forms.BooleanField(required=False, label="Send the existing log too (not only new events)")


class AuditFilterMixin:
    def event_filter(self):
        try:
            return selectors.EventFilter.from_query(self.request.GET), None
        except selectors.FilterError as exc:
            return selectors.EventFilter(), exc


def _cursor(event) -> str:
    return f"{event.occurred_at.isoformat()}|{event.pk}"


def _after_cursor(queryset, cursor: str):
    """Keyset paging: the page after (older than) the given event, without OFFSET."""
    at, _, pk = cursor.partition("|")
    when = parse_datetime(at)
    if when is None or not pk.isdigit():
        return queryset
    return queryset.filter(occurred_at__lte=when).exclude(occurred_at=when, id__gte=int(pk))


class AuditView(AuditFilterMixin, TenantConsoleMixin, TemplateView):
    """The explorer: the same filters as the API, newest first, keyset-paged."""

    template_name = "console/audit.html"
    section = "console:audit"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        flt, error = self.event_filter()
        events = selectors.search_events(self.tenant, flt)
        cursor = self.request.GET.get("after", "")
        page = list(_after_cursor(events, cursor)[:PAGE + 1] if cursor else events[:PAGE + 1])
        query = flt.as_query()
        next_query = None
        if len(page) > PAGE:
            page = page[:PAGE]
            next_query = {**query, "after": _cursor(page[-1])}
        context.update(events=page, form=FilterForm(self.request.GET or None), filter_error=error, query=query,
                       query_string=urlencode(query), next_query=urlencode(next_query) if next_query else "",
                       actions=sorted(REGISTRY),
                       stopped_sinks=selectors.sinks_of(self.tenant).filter(state=SinkState.DEAD_LETTER),
                       exports=JobRun.objects.filter(tenant=self.tenant, name="audit.export")[:5])
        return context


class AuditEventView(TenantConsoleMixin, TemplateView):
    template_name = "console/audit_event.html"
    section = "console:audit"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        event = selectors.event_of_tenant(self.tenant, kwargs["event_id"])
        if event is None:
            if selectors.event_exists_in_another_tenant(self.tenant, kwargs["event_id"]):
                failures.cross_tenant_attempt_record(tenant=self.tenant, actor=self.request.user, request=self.request,
                                                     object_type="audit.auditevent", object_id=kwargs["event_id"])
            raise Http404("no such audit event in this tenant")
        context.update(event=event, kind=REGISTRY.get(event.action),
                       same_request=selectors.search_events(self.tenant, selectors.EventFilter()).filter(
                           request_id=event.request_id).exclude(pk=event.pk)[:20] if event.request_id else [])
        return context


class AuditExportView(AuditFilterMixin, TenantConsoleMixin, View):
    """GET: stream the filtered range now. POST: run it as a background job (large ranges)."""

    section = "console:audit"
    write_roles = CONSOLE_ROLES  # taking a copy is what auditors are for

    def get(self, request, slug, fmt):
        flt, error = self.event_filter()
        if error:
            messages.error(request, str(error))
            return redirect("console:audit", slug=slug)
        return export.export_response(tenant=self.tenant, actor=request.user, request=request, flt=flt, fmt=fmt)

    def post(self, request, slug, fmt):
        try:
            flt = selectors.EventFilter.from_query(request.POST)
        except selectors.FilterError as exc:
            messages.error(request, str(exc))
            return redirect("console:audit", slug=slug)
        tenant_id, filters, who = str(self.tenant.pk), flt.as_query(), request.user.email
        transaction.on_commit(lambda: export_events.delay(tenant_id, filters, fmt, who))
        messages.success(request, "Export started; it appears below with its progress and a download link.")
        return redirect(f"{reverse('console:audit', kwargs={'slug': slug})}#exports")


class AuditExportDownloadView(TenantConsoleMixin, View):
    section = "console:audit"

    def get(self, request, slug, run_id):
        run = JobRun.objects.filter(tenant=self.tenant, name="audit.export", pk=_uuid(run_id),
                                    status=JobStatus.SUCCEEDED).first()
        if run is None:
            raise Http404("no finished export with that id in this tenant")
        path = export_path(run.pk, run.result.get("format", "jsonl"))
        if not path.exists():
            raise Http404("the export file is gone; run the export again")
        services.export_recorded(tenant=self.tenant, actor=request.user, request=request,
                                 fmt=run.result.get("format", ""), filters=run.params.get("filters", {}),
                                 rows=run.result.get("rows"))
        return FileResponse(open(path, "rb"), as_attachment=True,
                            filename=f"audit-{self.tenant.slug}-{run.created_at:%Y%m%dT%H%M%S}.{path.suffix[1:]}")


def _uuid(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class AuditVerifyView(TenantConsoleMixin, TemplateView):
    template_name = "console/audit_verify.html"
    section = "console:audit"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        (report,) = selectors.verify_audit(self.tenant)
        context["report"] = report
        return context


class AuditSettingsView(TenantConsoleMixin, StepUpMixin, TemplateView):
    """Retention, IP truncation and SIEM sinks (with their delivery state and dead letters)."""

    template_name = "console/audit_settings.html"
    section = "console:audit"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        policy = AuditTenantSettings.objects.filter(tenant_id=self.tenant.pk).first() or AuditTenantSettings(
            tenant_id=self.tenant.pk)
        context.update(settings_form=kwargs.get("settings_form") or AuditSettingsForm(instance=policy),
                       sink_form=kwargs.get("sink_form") or SinkForm(), sinks=selectors.sinks_of(self.tenant),
                       new_secret=kwargs.get("new_secret"), ip_choices=IPTruncation.choices,
                       retention_floor=services.retention_floor_days(),
                       retention_delay=settings.AUDIT_RETENTION_CHANGE_DELAY_DAYS)
        return context

    def post(self, request, slug):
        if "url" in request.POST:
            form = SinkForm(request.POST)
            if form.is_valid():
                try:
                    sink, secret = services.sink_create(tenant=self.tenant, actor=request.user, request=request,
                                                        **form.cleaned_data)
                except ApplicationError as exc:
                    add_to_form(form, exc)
                else:
                    messages.success(request, f"Sink {sink.name} added. Copy its signing secret now: it is not "
                                              "shown again.")
                    return self.render_to_response(self.get_context_data(new_secret=(sink, secret)))
            return self.render_to_response(self.get_context_data(sink_form=form), status=400)
        form = AuditSettingsForm(request.POST)
        if form.is_valid():
            try:
                services.audit_settings_update(tenant=self.tenant, actor=request.user, request=request,
                                               actor_is_owner=self.membership.role == Role.OWNER,
                                               **form.cleaned_data)
            except ApplicationError as exc:
                add_to_form(form, exc)
            else:
                messages.success(request, "Audit settings saved.")
                return redirect("console:audit-settings", slug=slug)
        return self.render_to_response(self.get_context_data(settings_form=form), status=400)


class AuditSinkActionView(TenantConsoleMixin, View):
    section = "console:audit"

    def post(self, request, slug, sink_id, verb):
        sink = selectors.sink_of_tenant(self.tenant, _uuid(sink_id))
        if sink is None:
            raise Http404("no such sink in this tenant")
        if verb == "delete":
            services.sink_delete(sink=sink, actor=request.user, request=request)
            messages.success(request, f"Sink {sink.name} removed.")
        else:
            state = SinkState.PAUSED if verb == "pause" else SinkState.ACTIVE
            services.sink_set_state(sink=sink, state=state, actor=request.user, request=request)
            messages.success(request, f"Sink {sink.name} {'paused' if verb == 'pause' else 'resumed'}.")
        return redirect("console:audit-settings", slug=slug)
