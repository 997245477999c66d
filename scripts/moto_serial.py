"""Runs the moto server, handling one request at a time: python moto_serial.py HOST PORT.

moto applies a DynamoDB transaction by deep-copying the table and putting the copy back when
a condition fails. With requests on several threads (moto_server's default), putting it back
can undo writes that other requests made meanwhile, which real DynamoDB, whose transactions
are serialisable, never does; the tests that race twenty writers on one report then see
counts that DynamoDB would never produce. Serving one request at a time gives the tests
DynamoDB's isolation. moto is CPU-bound Python under one lock anyway, so little is lost.

Two costs of moto itself are removed, without changing what any request answers:

- moto keeps every model object it ever made (each S3 object, each table copy) in a list for
  its dashboard; over a test run that holds every deep copy of every table, gigabytes.
  Only the mails SES sent are kept: the alert tests read them back from
  `/moto-api/data.json` (`ses.RawMessage`); nothing else is.
- the deep copy of the whole table, made once per item of every transaction, makes a
  thousand transactions on one table take minutes. Only the items a transaction names can
  change, so only they are copied, and put back when it is cancelled.
"""

import copy
import os
import sys

from moto.core.common_models import BaseModel
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table


def untracked_new(cls, *args, **kwargs):
    instance = object.__new__(cls)
    if cls.__module__.startswith("moto.ses") and cls.__name__ in ("Message", "RawMessage"):
        cls.instances_tracked.append(instance)
    return instance


BaseModel.__new__ = staticmethod(untracked_new)

_in_transaction = False


def table_deepcopy(self, memo):
    """Within a transaction the table itself stands for its copy (see transact_write_items)."""
    if _in_transaction:
        return self
    new = object.__new__(type(self))
    memo[id(self)] = new
    for name, value in self.__dict__.items():
        setattr(new, name, copy.deepcopy(value, memo))
    return new


Table.__deepcopy__ = table_deepcopy
moto_transact_write_items = DynamoDBBackend.transact_write_items


def item_key(table, op):
    key = op.get("Key") or {
        name: op["Item"][name] for name in table.table_key_attrs if name in op.get("Item", {})
    }
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def restore(table, hash_value, range_value, item):
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
        return
    if item is None:
        table.items[hash_value].pop(range_value, None)
    else:
        table.items[hash_value][range_value] = item


def transact_write_items(self, transact_items):
    global _in_transaction
    saved = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = self.tables.get(op.get("TableName"))
        if table is None:
            continue
        try:
            hash_value, range_value = item_key(table, op)
        except (KeyError, TypeError):
            continue  # moto answers the malformed request itself
        item = table.get_item(hash_value, range_value)
        saved.append((table, hash_value, range_value, copy.deepcopy(item)))
    _in_transaction = True
    try:
        return moto_transact_write_items(self, transact_items)
    except BaseException:
        for table, hash_value, range_value, item in reversed(saved):
            restore(table, hash_value, range_value, item)
        raise
    finally:
        _in_transaction = False


DynamoDBBackend.transact_write_items = transact_write_items

if __name__ == "__main__":
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    run_simple(host, port, DomainDispatcherApplication(create_backend_app), threaded=False)
