"""Serializers that refuse what they would otherwise drop in silence.

DRF ignores keys a serializer does not write, so a caller who sends ``allowed_resources`` (the read field)
instead of ``resources`` (the write field) gets a 201 and a client without resources. Every write
serializer of the API derives from these: a key that is not a writable field is a 400 naming it. A
serializer's ``Meta.written_as`` maps a read-only field to the field that sets it, for the message.
"""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework import serializers


class RefuseUnknownFields:
    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = sorted(name for name, field in self.fields.items() if not field.read_only)
            unknown = [key for key in data if key not in writable]
            if unknown:
                written_as = getattr(getattr(self, "Meta", None), "written_as", {})
                errors = {}
                for key in unknown:
                    if key in written_as:
                        errors[key] = [f"'{key}' is read-only: the write field is '{written_as[key]}'"]
                    elif key in self.fields:
                        errors[key] = [f"'{key}' is read-only and cannot be set"]
                    else:
                        errors[key] = [f"unknown field '{key}'; the writable fields are: {', '.join(writable)}"]
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class Serializer(RefuseUnknownFields, serializers.Serializer):
    pass


class ModelSerializer(RefuseUnknownFields, serializers.ModelSerializer):
    pass
