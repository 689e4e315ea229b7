"""Forms of the file-import pages: upload, column mapping (one row per column), id column."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import FieldMapping
from .services.file_import import MAX_FILE_BYTES
from .targets import target_choices


class FileUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or Excel file"),
        help_text=_(
            "A .csv (separated by ; or ,) or an .xlsx workbook (its first sheet), with the column names in the "
            "first row; at most 5,000 rows and 10 MB. Nothing is imported before you have mapped the columns and "
            "checked a preview."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.xlsx"}),
    )

    def clean_file(self):
        uploaded = self.cleaned_data["file"]
        if uploaded.size > MAX_FILE_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(limit)s MB."), params={"limit": MAX_FILE_BYTES // 1024 // 1024}
            )
        return uploaded


class ColumnMappingForm(forms.Form):
    """One column of the file: which Steward field it fills, and how to read it.

    The first rows are the file's columns, one each (`fixed_column`); the extra rows let one
    column fill a second field, such as "van den Berg" into both the prefix and the last name.
    """

    column = forms.ChoiceField(label=_("Column"), required=False)
    target = forms.ChoiceField(label=_("Steward field"), required=False)
    transform = forms.ChoiceField(
        label=_("Read as"), choices=FieldMapping.Transform.choices, initial=FieldMapping.Transform.NONE
    )
    argument = forms.CharField(label=_("Format or map"), required=False, max_length=500)
    required = forms.BooleanField(label=_("Required"), required=False)

    def __init__(self, *args, columns: list[str], fixed_column: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fixed_column = fixed_column
        self.fields["column"].choices = [("", "—"), *((column, column) for column in columns)]
        self.fields["target"].choices = [("", _("Ignore this column")), *target_choices()]
        if fixed_column is not None:
            self.fields["column"].widget = forms.HiddenInput()
            # The table shows one row per column: name each control after its column for screen readers.
            for name, label in (
                ("target", _("Steward field")),
                ("transform", _("Read as")),
                ("argument", _("Format or map")),
                ("required", _("Required")),
            ):
                self.fields[name].widget.attrs["aria-label"] = f"{label}: {fixed_column}"
        else:
            for name in ("column", "target", "transform", "argument", "required"):
                self.fields[name].widget.attrs["aria-label"] = f"{self.fields[name].label} ({_('extra row')})"
        self.fields["column"].widget.attrs["class"] = "form-select form-select-sm"
        self.fields["target"].widget.attrs.update({"class": "form-select form-select-sm", "style": "min-width: 16rem"})
        self.fields["transform"].widget.attrs["class"] = "form-select form-select-sm"
        self.fields["argument"].widget.attrs["class"] = "form-control form-control-sm"
        self.fields["required"].widget.attrs["class"] = "form-check-input"

    def clean_column(self):
        # A fixed row always maps its own column, whatever the posted hidden value says.
        return self.fixed_column if self.fixed_column is not None else self.cleaned_data["column"]

    def rule(self) -> dict | None:
        """The mapping rule of this row, or None when the row maps nothing."""
        data = self.cleaned_data
        if not data.get("column") or not data.get("target"):
            return None
        return {key: data[key] for key in ("column", "target", "transform", "argument", "required")}


class BaseColumnMappingFormSet(forms.BaseFormSet):
    def __init__(self, *args, columns: list[str], **kwargs):
        self.columns = columns
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        fixed = self.columns[index] if index is not None and index < len(self.columns) else None
        return {"columns": self.columns, "fixed_column": fixed}

    def mapping(self) -> list[dict]:
        return [rule for form in self.forms if (rule := form.rule())]


ColumnMappingFormSet = forms.formset_factory(
    ColumnMappingForm, formset=BaseColumnMappingFormSet, extra=0, max_num=1000, absolute_max=1000
)


class RecordIdForm(forms.Form):
    record_id_column = forms.ChoiceField(
        label=_("Column that identifies a record"),
        required=False,
        help_text=_(
            "A client or relation number. Without one, a row is known by its values: a changed row then "
            "arrives as a new record rather than as an update."
        ),
    )

    def __init__(self, *args, columns: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["record_id_column"].choices = [
            ("", _("None: identify a row by its values")),
            *((column, column) for column in columns),
        ]
