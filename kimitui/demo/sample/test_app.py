from decimal import Decimal

import pytest
from app import Customer, Item, Order, apply_discount, main, order_total, price_with_tax


def test_price_with_tax_adds_twenty_percent():
    assert price_with_tax(Decimal("10.00")) == Decimal("12.00")


def test_apply_discount_rounds_to_cents():
    assert apply_discount(Decimal("19.99"), 15) == Decimal("16.99")


def test_apply_discount_rejects_silly_percentages():
    with pytest.raises(ValueError):
        apply_discount(Decimal("10"), 120)


def test_order_total_applies_loyalty_then_tax():
    order = Order(Customer("Bo", loyalty_years=2))
    order.add(Item("PEN-1", "Pen", Decimal("2.50"), 4))
    assert order_total(order) == Decimal("11.52")


def test_main_prints_a_receipt(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "Receipt for Ada" in out
    assert "Total (incl. tax)" in out
