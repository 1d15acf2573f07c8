"""Round trip: a sequence of model edits, each turned into a migration by makemigrations,
applied by migrate (data checked), with ``makemigrations --check`` clean after each, the
SQL of ``sqlmigrate`` equal to what ``migrate`` ran, and back to zero leaving no table.

Portable: runs unchanged on PostgreSQL through the ``db`` fixture.
"""

from __future__ import annotations

import decimal
from typing import Any

import pytest

from dorm.exceptions import IntegrityError
from dorm.testing import CaptureQueries

CRM_1 = """
class Customer(dorm.Model):
    name = dorm.CharField(max_length=100)
    email = dorm.EmailField(unique=True)
"""

SHOP_1 = """
class Product(dorm.Model):
    name = dorm.CharField(max_length=50)
    price = dorm.DecimalField(max_digits=8, decimal_places=2)


class Order(dorm.Model):
    customer = dorm.ForeignKey("mig_crm.Customer", on_delete=dorm.CASCADE)
    created = dorm.DateTimeField(auto_now_add=True)
    note = dorm.TextField(blank=True)
"""


PRICE_CHECK = 'dorm.CheckConstraint(condition=dorm.Q(price__gte=0), name="mig_price_gte_0")'
NAME_UNIQUE = 'dorm.UniqueConstraint(fields=["name"], name="mig_uniq_name")'


def _replace(source: str, old: str, new: str) -> str:
    assert old in source, f"{old!r} not in models"
    return source.replace(old, new, 1)


def _statements(lines: list[str]) -> list[str]:
    """sqlmigrate output -> the statements (no comments, BEGIN/COMMIT, trailing ;)."""
    result = []
    for line in lines:
        if line.startswith("--") or line in ("BEGIN;", "COMMIT;"):
            continue
        result.append(line[:-1] if line.endswith(";") else line)
    return result


def _ran(ctx: CaptureQueries) -> list[str]:
    """Statements migrate ran for the migration itself (not the recorder's, not PRAGMAs)."""
    return [
        q
        for q in ctx.queries
        if "dorm_migrations" not in q and not q.lstrip().upper().startswith("PRAGMA")
    ]


class Steps:
    """The models of both apps, edited step by step."""

    def __init__(self, project: Any) -> None:
        self.project = project
        self.sources = {"mig_crm": CRM_1, "mig_shop": SHOP_1}
        self.number = 0

    def step(self, name: str, **edits: tuple[str, str] | str) -> list[str]:
        """Apply the edits, makemigrations --name name, migrate; returns the new files."""
        p = self.project
        for app, edit in edits.items():
            if isinstance(edit, tuple):
                self.sources[app] = _replace(self.sources[app], *edit)
            else:
                self.sources[app] = edit
        for app, source in self.sources.items():
            p.write_models(app, source)
        before = {app: set(p.migration_files(app)) for app in p.app_labels}
        p.makemigrations(name=name)
        new = {app: sorted(set(p.migration_files(app)) - before[app]) for app in p.app_labels}
        created = [f"{app}.{f[:-3]}" for app, files in new.items() for f in files]
        assert created, f"step {name}: makemigrations wrote nothing\n{p.output.getvalue()}"
        expected: list[str] = []
        for app, files in new.items():
            for file in files:
                expected += _statements(p.call("sqlmigrate", app, file[:-3]))
        with CaptureQueries() as ctx:
            p.migrate()
        assert "OK" in p.output.getvalue(), p.output.getvalue()
        if len(created) == 1:
            # Several new migrations may run in another order than listed; one is exact.
            assert _ran(ctx) == expected, (name, _ran(ctx), expected)
        else:
            assert sorted(_ran(ctx)) == sorted(expected), name
        p.assert_no_changes()
        p.reload()
        return created

    def models(self, app: str) -> Any:
        return self.project.models(app)


def test_round_trip(project: Any) -> None:
    p = project
    s = Steps(p)

    # 1. Two apps, a cross-app foreign key.
    created = s.step("initial")
    assert created == ["mig_crm.0001_initial", "mig_shop.0001_initial"]
    crm, shop = s.models("mig_crm"), s.models("mig_shop")
    c1 = crm.Customer.objects.create(name="Ada", email="ada@example.com")
    p1 = shop.Product.objects.create(name="Lamp", price=decimal.Decimal("9.50"))
    shop.Order.objects.create(customer=c1, note="first")
    dep = (p.root / "mig_shop/migrations/0001_initial.py").read_text()
    assert '("mig_crm", "0001_initial")' in dep

    # 2. Add a field with a default: existing rows get it.
    s.step(
        "product_stock",
        mig_shop=(
            "decimal_places=2)\n",
            "decimal_places=2)\n    stock = dorm.IntegerField(default=0)\n",
        ),
    )
    assert s.models("mig_shop").Product.objects.get().stock == 0

    # 3. Add a nullable field.
    s.step(
        "customer_phone",
        mig_crm=(
            "unique=True)\n",
            "unique=True)\n    phone = dorm.CharField(max_length=20, null=True)\n",
        ),
    )
    assert s.models("mig_crm").Customer.objects.get().phone is None

    # 4. Rename a field (unambiguous: detected without a prompt); data kept.
    s.step(
        "rename_name_title",
        mig_shop=("name = dorm.CharField(max_length=50)", "title = dorm.CharField(max_length=50)"),
    )
    assert s.models("mig_shop").Product.objects.get().title == "Lamp"

    # 5. Alter a field: longer, indexed.
    s.step(
        "title_longer",
        mig_shop=(
            "title = dorm.CharField(max_length=50)",
            "title = dorm.CharField(max_length=120, db_index=True)",
        ),
    )
    long_title = "x" * 100
    s.models("mig_shop").Product.objects.filter(pk=p1.pk).update(title=long_title)

    # 6. NULL -> NOT NULL with a default: NULLs are filled.
    s.step(
        "phone_required",
        mig_crm=(
            "phone = dorm.CharField(max_length=20, null=True)",
            'phone = dorm.CharField(max_length=20, default="")',
        ),
    )
    assert s.models("mig_crm").Customer.objects.get().phone == ""

    # 7. Add an index.
    s.step(
        "order_index",
        mig_shop=(
            "note = dorm.TextField(blank=True)\n",
            "note = dorm.TextField(blank=True)\n\n    class Meta:\n"
            '        indexes = [dorm.Index(fields=["-created"], name="mig_order_created_idx")]\n',
        ),
    )

    # 8. Add a check constraint: enforced by the database.
    s.step(
        "price_check",
        mig_shop=(
            "stock = dorm.IntegerField(default=0)\n",
            "stock = dorm.IntegerField(default=0)\n\n    class Meta:\n        constraints = [\n"
            f"            {PRICE_CHECK}\n        ]\n",
        ),
    )
    Product = s.models("mig_shop").Product
    with pytest.raises(IntegrityError):
        Product.objects.create(title="bad", price=decimal.Decimal("-1"))

    # 9. unique_together.
    s.step(
        "order_unique",
        mig_shop=(
            '        indexes = [dorm.Index(fields=["-created"], name="mig_order_created_idx")]\n',
            '        indexes = [dorm.Index(fields=["-created"], name="mig_order_created_idx")]\n'
            '        unique_together = [("customer", "note")]\n',
        ),
    )
    Order = s.models("mig_shop").Order
    with pytest.raises(IntegrityError):
        Order.objects.create(customer_id=c1.pk, note="first")

    # 10. A new model and an M2M to it (through table).
    s.step(
        "tags",
        mig_shop=(
            "class Order(dorm.Model):",
            "class Tag(dorm.Model):\n    name = dorm.CharField(max_length=30)\n\n\n"
            "class Order(dorm.Model):",
        ),
    )
    s.step(
        "product_tags",
        mig_shop=(
            "stock = dorm.IntegerField(default=0)\n",
            'stock = dorm.IntegerField(default=0)\n    tags = dorm.ManyToManyField("Tag")\n',
        ),
    )
    shop = s.models("mig_shop")
    tag = shop.Tag.objects.create(name="blue")
    shop.Product.objects.get().tags.add(tag)

    # 11. Rename a model: its M2M table and column follow; links kept.
    source = s.sources["mig_shop"]
    source = _replace(source, "class Tag(dorm.Model):", "class Label(dorm.Model):")
    source = _replace(source, 'dorm.ManyToManyField("Tag")', 'dorm.ManyToManyField("Label")')
    created = s.step("rename_tag_label", mig_shop=source)
    migration = (p.root / "mig_shop/migrations" / (created[0].split(".")[1] + ".py")).read_text()
    assert "RenameModel" in migration
    shop = s.models("mig_shop")
    assert [t.name for t in shop.Product.objects.get().tags.all()] == ["blue"]

    # 12. Add a foreign key (nullable, SET_NULL).
    s.step(
        "order_product",
        mig_shop=(
            "note = dorm.TextField(blank=True)\n",
            "note = dorm.TextField(blank=True)\n"
            "    product = dorm.ForeignKey(Product, null=True, on_delete=dorm.SET_NULL)\n",
        ),
    )
    shop = s.models("mig_shop")
    shop.Order.objects.update(product=shop.Product.objects.get())

    # 13. Remove a field.
    s.step("remove_phone", mig_crm=('    phone = dorm.CharField(max_length=20, default="")\n', ""))
    assert s.models("mig_crm").Customer.objects.get().name == "Ada"

    # 14. A unique constraint.
    s.step(
        "customer_unique_name",
        mig_crm=(
            "email = dorm.EmailField(unique=True)\n",
            "email = dorm.EmailField(unique=True)\n\n    class Meta:\n"
            f"        constraints = [{NAME_UNIQUE}]\n",
        ),
    )
    with pytest.raises(IntegrityError):
        s.models("mig_crm").Customer.objects.create(name="Ada", email="other@example.com")

    # 15. Remove an index and a constraint.
    source = s.sources["mig_shop"]
    source = _replace(
        source,
        '        indexes = [dorm.Index(fields=["-created"], name="mig_order_created_idx")]\n',
        "",
    )
    source = _replace(
        source,
        f"\n    class Meta:\n        constraints = [\n            {PRICE_CHECK}\n        ]\n",
        "",
    )
    s.step("drop_index_check", mig_shop=source)
    refund = s.models("mig_shop").Product.objects.create(
        title="refund", price=decimal.Decimal("-1")
    )
    refund.delete()  # rolling back re-adds the check, which this row would break

    # 16. Rename the table.
    s.step(
        "product_table",
        mig_shop=(
            'tags = dorm.ManyToManyField("Label")\n',
            'tags = dorm.ManyToManyField("Label")\n\n    class Meta:\n'
            '        db_table = "mig_shop_products"\n',
        ),
    )
    assert "mig_shop_products" in p.tables()
    assert s.models("mig_shop").Product.objects.count() == 1

    # 17. Delete a model (and the M2M pointing to it).
    source = s.sources["mig_shop"]
    source = _replace(source, '    tags = dorm.ManyToManyField("Label")\n', "")
    source = _replace(
        source, "class Label(dorm.Model):\n    name = dorm.CharField(max_length=30)\n\n\n", ""
    )
    s.step("delete_label", mig_shop=source)
    assert not any("label" in t for t in p.app_tables())

    # 18. Alter a foreign key: NOT NULL and CASCADE; the row keeps its reference.
    s.models("mig_shop").Order.objects.update(product=s.models("mig_shop").Product.objects.first())
    s.step(
        "order_product_required",
        mig_shop=(
            "product = dorm.ForeignKey(Product, null=True, on_delete=dorm.SET_NULL)",
            "product = dorm.ForeignKey(Product, on_delete=dorm.CASCADE)",
        ),
    )
    order = s.models("mig_shop").Order.objects.get()
    assert order.product.title == long_title
    assert order.customer.name == "Ada"

    # 19. Python-only options: a migration without SQL.
    s.step(
        "order_ordering",
        mig_shop=(
            '        unique_together = [("customer", "note")]\n',
            '        unique_together = [("customer", "note")]\n        ordering = ["-created"]\n',
        ),
    )

    assert len(p.migration_files("mig_shop")) + len(p.migration_files("mig_crm")) >= 19

    # Back to zero: no app table is left; the recorder forgets every migration. (The long
    # title would not fit the varchar(50) it goes back to on a database that checks.)
    s.models("mig_shop").Product.objects.update(title="Lamp")
    p.migrate("mig_shop", "zero")
    p.migrate("mig_crm", "zero")
    assert p.app_tables() == set()
    assert p.applied() == set()

    # And the whole history applies again from scratch, and rolls back again.
    p.migrate()
    assert {"mig_shop_products", "mig_shop_order", "mig_crm_customer"} <= p.app_tables()
    p.assert_no_changes()
    p.migrate("mig_shop", "zero")
    p.migrate("mig_crm", "zero")
    assert p.app_tables() == set()
