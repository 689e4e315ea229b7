"""Which stored fields an expression reads: for purpose limitation (trust/privacy_register.py).

A typed tree names its values by scope and field (`client.email`, `facts.age`, a row's `premium`);
this turns them into the privacy register's keys ("clients.Client.email"). Counting rows of a
collection reads that the rows exist, which is the collection's link to the client.
"""

from . import typed as t
from .schema import schema


def _scope_model(scope: str):
    from clients.models import Client, Property
    from enrichment.models import ClientFacts

    return {"client": Client, "facts": ClientFacts, "property": Property}[scope]


def _key(model, field_name: str) -> str:
    return f"{model._meta.app_label}.{model.__name__}.{field_name}"


def referenced_fields(*nodes: t.Node | None) -> set[str]:
    """Every stored field the expressions read, as "app_label.Model.field"."""
    names = schema()
    found: set[str] = set()
    for node in nodes:
        if node is None:
            continue
        for item in t.walk(node):
            if isinstance(item, t.FieldRef):
                if item.scope == "row":
                    collection = names.collections[item.collection]
                    spec, model = collection.fields[item.name], collection.model
                else:
                    spec, model = names.scopes[item.scope][item.name], _scope_model(item.scope)
                found.add(_key(model, spec.source_field or item.name))
            elif isinstance(item, t.Aggregate):
                collection = names.collections[item.collection]
                found.add(_key(collection.model, collection.client_path.split("__")[0]))
                if item.field:
                    spec = collection.fields[item.field]
                    found.add(_key(collection.model, spec.source_field or item.field))
    return found
