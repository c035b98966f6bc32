"""The files the demo model writes when it splits the sample's app.py.

Kept as text, not modules: they are what the scripted model "types", and
they only make sense next to the sample's test_app.py in a project folder.
"""

MODELS_PY = '''"""The shop's data: items, customers and orders."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    unit_price: Decimal
    quantity: int = 1


@dataclass
class Customer:
    name: str
    loyalty_years: int = 0


@dataclass
class Order:
    customer: Customer
    items: list[Item] = field(default_factory=list)

    def add(self, item: Item) -> None:
        self.items.append(item)
'''

LOGIC_PY = '''"""Pricing rules: pure functions over the models, no I/O."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from models import Customer, Order

TAX_RATE = Decimal("0.20")
CENT = Decimal("0.01")


def round_money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def price_with_tax(amount: Decimal, rate: Decimal = TAX_RATE) -> Decimal:
    return round_money(amount * (1 + rate))


def apply_discount(amount: Decimal, percent: int) -> Decimal:
    if not 0 <= percent <= 100:
        raise ValueError(f"discount must be between 0 and 100, got {percent}")
    return round_money(amount * (100 - percent) / 100)


def loyalty_discount(customer: Customer) -> int:
    # Two percent per year with the shop, capped so we still make money.
    return min(customer.loyalty_years * 2, 10)


def order_total(order: Order) -> Decimal:
    subtotal = sum((i.unit_price * i.quantity for i in order.items), Decimal("0"))
    discounted = apply_discount(subtotal, loyalty_discount(order.customer))
    return price_with_tax(discounted)


def format_receipt(order: Order) -> str:
    lines = [f"Receipt for {order.customer.name}"]
    for item in order.items:
        cost = round_money(item.unit_price * item.quantity)
        lines.append(f"  {item.quantity} x {item.name:<12} {cost:>8}")
    lines.append(f"  {'Total (incl. tax)':<17}{order_total(order):>8}")
    return "\\n".join(lines)
'''

_ENTRY_POINT = """

def load_order(path: str) -> Order:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    order = Order(Customer(data["customer"], data.get("loyalty_years", 0)))
    for row in data["items"]:
        order.add(Item(row["sku"], row["name"], Decimal(row["price"]), row.get("qty", 1)))
    return order


def demo_order() -> Order:
    order = Order(Customer("Ada", loyalty_years=3))
    order.add(Item("TEA-01", "Green tea", Decimal("4.50"), 2))
    order.add(Item("MUG-02", "Mug", Decimal("8.00")))
    return order


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    order = load_order(args[0]) if args else demo_order()
    print(format_receipt(order))
    return 0


if __name__ == "__main__":
    sys.exit(main())
"""

_HEADER = '''"""Command-line entry point: load an order and print its receipt."""

from __future__ import annotations

import json
import sys
from decimal import Decimal

'''

# First attempt: imports only what main() needs, so `from app import
# apply_discount` in the untouched tests breaks.
THIN_APP_PY = (
    _HEADER
    + """from logic import format_receipt
from models import Customer, Item, Order
"""
    + _ENTRY_POINT
)

# Second attempt: the moved names are re-exported on purpose.
APP_PY = (
    _HEADER
    + """from logic import (
    TAX_RATE,
    apply_discount,
    format_receipt,
    loyalty_discount,
    order_total,
    price_with_tax,
    round_money,
)
from models import Customer, Item, Order

# Callers (test_app.py among them) import these from app; keep that working.
__all__ = [
    "TAX_RATE",
    "Customer",
    "Item",
    "Order",
    "apply_discount",
    "format_receipt",
    "load_order",
    "loyalty_discount",
    "main",
    "order_total",
    "price_with_tax",
    "round_money",
]
"""
    + _ENTRY_POINT
)

NEW_FILES = {"models.py": MODELS_PY, "logic.py": LOGIC_PY}
