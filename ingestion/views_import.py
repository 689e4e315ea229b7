"""Pages of a file import: upload → map the columns → preview the validation report → apply or cancel."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .forms_import import ColumnMappingFormSet, FileUploadForm, RecordIdForm
from .models import FileImport, Source
from .services.file_import import (
    FileImportError,
    file_import_apply,
    file_import_cancel,
    file_import_initial_mapping,
    file_import_map,
    file_import_preview,
    file_import_samples,
    file_import_upload,
)

EXTRA_MAPPING_ROWS = 2


def _finished(request, file_import: FileImport, error: FileImportError):
    messages.error(request, error.message)
    return redirect("ingestion:source", key=file_import.source.key)


@permission_required("ingestion.run_sync", raise_exception=True)
def file_import_upload_view(request, key: str):
    source = get_object_or_404(Source, key=key)
    if source.kind != Source.Kind.FILE:
        raise Http404(_("Only a file source takes uploads."))
    form = FileUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        uploaded = form.cleaned_data["file"]
        try:
            file_import = file_import_upload(
                source=source, filename=uploaded.name, content=uploaded.read(), user=request.user
            )
        except FileImportError as error:
            form.add_error("file", error.message)
        else:
            return redirect("ingestion:import_map", pk=file_import.pk)
    return render(request, "ingestion/import_upload.html", {"source": source, "form": form})


@permission_required("ingestion.run_sync", raise_exception=True)
def file_import_map_view(request, pk: int):
    file_import = get_object_or_404(FileImport.objects.select_related("source"), pk=pk)
    columns = file_import.columns
    if request.method == "POST":
        formset = ColumnMappingFormSet(request.POST, columns=columns, prefix="map")
        id_form = RecordIdForm(request.POST, columns=columns, prefix="id")
        if formset.is_valid() and id_form.is_valid():
            try:
                file_import_map(
                    file_import=file_import,
                    mapping=formset.mapping(),
                    record_id_column=id_form.cleaned_data["record_id_column"],
                )
            except ValidationError as error:
                id_form.add_error(None, error)
            except FileImportError as error:
                return _finished(request, file_import, error)
            else:
                return redirect("ingestion:import_preview", pk=file_import.pk)
    else:
        mapping, record_id_column = file_import_initial_mapping(file_import=file_import)
        formset = ColumnMappingFormSet(initial=_formset_initial(columns, mapping), columns=columns, prefix="map")
        id_form = RecordIdForm(initial={"record_id_column": record_id_column}, columns=columns, prefix="id")
    try:
        samples = file_import_samples(file_import=file_import)
    except FileImportError as error:
        return _finished(request, file_import, error)
    for form in formset.forms:
        form.samples = samples.get(form.fixed_column or "", [])
    return render(
        request,
        "ingestion/import_map.html",
        {"file_import": file_import, "source": file_import.source, "formset": formset, "id_form": id_form},
    )


def _formset_initial(columns: list[str], mapping: list[dict]) -> list[dict]:
    """One row per column with its first rule, then rows for further rules, then blank rows."""
    first: dict[str, dict] = {}
    more: list[dict] = []
    for rule in mapping:
        if rule["column"] in first:
            more.append(rule)
        else:
            first[rule["column"]] = rule
    return [
        *(first.get(column, {"column": column}) for column in columns),
        *more,
        *({} for _ in range(EXTRA_MAPPING_ROWS)),
    ]


@permission_required("ingestion.run_sync", raise_exception=True)
def file_import_preview_view(request, pk: int):
    file_import = get_object_or_404(FileImport.objects.select_related("source"), pk=pk)
    try:
        preview = file_import_preview(file_import=file_import)
    except FileImportError as error:
        if file_import.is_open:
            messages.error(request, error.message)
            return redirect("ingestion:import_map", pk=file_import.pk)
        return _finished(request, file_import, error)
    return render(
        request,
        "ingestion/import_preview.html",
        {"file_import": file_import, "source": file_import.source, "preview": preview},
    )


@require_POST
@permission_required("ingestion.run_sync", raise_exception=True)
def file_import_apply_view(request, pk: int):
    file_import = get_object_or_404(FileImport.objects.select_related("source"), pk=pk)
    try:
        run = file_import_apply(file_import=file_import, user=request.user)
    except FileImportError as error:
        messages.error(request, error.message)
        if file_import.is_open:
            return redirect("ingestion:import_preview", pk=file_import.pk)
        return redirect("ingestion:source", key=file_import.source.key)
    messages.success(
        request,
        _(
            "Imported %(file)s: %(created)s new, %(updated)s changed, %(unchanged)s unchanged, "
            "%(quarantined)s quarantined, %(in_review)s to review."
        )
        % {
            "file": file_import.original_filename,
            "created": run.created,
            "updated": run.updated,
            "unchanged": run.unchanged,
            "quarantined": run.quarantined,
            "in_review": run.in_review,
        },
    )
    return redirect("ingestion:source", key=file_import.source.key)


@require_POST
@permission_required("ingestion.run_sync", raise_exception=True)
def file_import_cancel_view(request, pk: int):
    file_import = get_object_or_404(FileImport.objects.select_related("source"), pk=pk)
    try:
        file_import_cancel(file_import=file_import)
    except FileImportError as error:
        return _finished(request, file_import, error)
    messages.info(
        request, _("Import of %(file)s cancelled; the file was deleted.") % {"file": file_import.original_filename}
    )
    return redirect("ingestion:source", key=file_import.source.key)
