"""Admin forms of segmented structures (name and colour are the curator's, the rest is derived).

A structure's study is read-only in the admin, so Django's own unique check of (study, name)
skips it (the study is not a form field); without this form a rename onto an existing name would
reach the database constraint as a server error instead of a form error.
"""

from __future__ import annotations

from collections import Counter

from django import forms
from django.forms.models import BaseInlineFormSet

from imaging.models import CaseStructure


class CaseStructureForm(forms.ModelForm):
    class Meta:
        model = CaseStructure
        fields = ["name", "color_hex"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        study_id = self.instance.imaging_study_id
        if (
            study_id
            and name != self.instance.name
            and CaseStructure.objects.filter(imaging_study_id=study_id, name=name).exclude(pk=self.instance.pk).exists()
        ):
            raise forms.ValidationError(f"This study already has a structure named {name!r}.")
        return name


class CaseStructureInlineFormSet(BaseInlineFormSet):
    """Also refuses two rows of one submission that end up with the same name in the same study."""

    def clean(self) -> None:
        super().clean()
        names = Counter(
            (form.instance.imaging_study_id, form.cleaned_data.get("name"))
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.instance.imaging_study_id
        )
        duplicates = sorted(name for (_, name), count in names.items() if count > 1 and name)
        if duplicates:
            raise forms.ValidationError(f"Two structures of one study cannot both be named {duplicates[0]!r}.")
