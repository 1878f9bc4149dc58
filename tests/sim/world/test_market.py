"""Settlement maths against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from sim.world.market import best_products, company_utilities, customer_utilities, settle

# Two customers, three products, one company that lists all three.
PRICES = np.array([10.0, 20.0, 30.0])
BUDGETS = np.array([25.0, 100.0])
CU = np.array([[1.0, 3.0, 5.0],     # customer 0 can afford products 0, 1 -> best is 1 (u=3)
               [2.0, 4.0, 4.0]])    # customer 1 can afford all -> best is 1 (tie with 2)
KU = np.array([[0.5, 0.1, 0.9]])    # company: best affordable for c0 is 0, for c1 is 2
LISTED = np.ones((1, 3), dtype=bool)


def run(customer, choice, readable=None, failed=None):
    customer = np.array(customer)
    n = len(customer)
    return settle(customer=customer, company=np.zeros(n, dtype=int), choice=np.array(choice),
                  readable=np.ones(n, bool) if readable is None else np.array(readable),
                  failed=np.zeros(n, bool) if failed is None else np.array(failed),
                  customer_utility=CU, company_utility=KU, listed=LISTED, prices=PRICES,
                  budgets=BUDGETS)


def test_utilities_by_hand():
    weights = np.array([[2.0, 0.0]])
    attributes = np.array([[1.0, 0.0], [0.5, 1.0]])
    u = customer_utilities(weights, np.array([[0.0, 1.0]]), np.array([0.5]), np.array([100.0]),
                           attributes, np.array([50.0, 20.0]))
    # product 0: 2*1 + 0 - 0.5*50/100 = 1.75; product 1: 2*0.5 + 1 - 0.5*20/100 = 1.9
    assert u == pytest.approx(np.array([[1.75, 1.9]]))
    k = company_utilities(np.array([0.1]), np.array([[10.0, 30.0]]), np.array([[0.0, -1.0]]),
                          attributes, np.array([[0.0, 0.0]]), np.array([[0.0, 1.0]]),
                          np.array([5.0]))
    # product 0: 0.1*10 = 1; product 1: 0.1*30 - 1 - 5 = -3
    assert k == pytest.approx(np.array([[1.0, -3.0]]))


def test_best_products_respects_feasibility_and_ties():
    best, value = best_products(np.array([[1.0, 3.0, 3.0], [1.0, 2.0, 3.0]]),
                                np.array([[True, True, True], [False, False, False]]))
    assert best.tolist() == [1, -1]  # first of the tied maxima; -1 when nothing feasible
    assert value.tolist() == [3.0, 0.0]


def test_customer_best_choice():
    s = run([0], [1])
    assert s.customer_best.tolist() == [1] and s.company_best.tolist() == [0]
    assert s.purchased.tolist() == [True] and s.outcome.tolist() == ["purchased"]
    assert s.agency_loss.tolist() == [0.0] and s.override.tolist() == [0.0]
    assert s.sided_with_company.tolist() == [0.0]
    assert s.customer_utility.tolist() == [3.0] and s.company_utility.tolist() == [0.1]
    assert s.price_paid.tolist() == [20.0]


def test_siding_with_company():
    s = run([0], [0])
    assert s.override.tolist() == [1.0] and s.sided_with_company.tolist() == [1.0]
    assert s.agency_loss.tolist() == [2.0]          # 3 - 1
    assert s.company_gain.tolist() == pytest.approx([0.4])  # 0.5 - 0.1


def test_tied_best_is_not_an_override():
    s = run([1], [2])  # u=4 ties with product 1
    assert s.override.tolist() == [0.0] and s.agency_loss.tolist() == [0.0]


def test_over_budget_choice_buys_nothing():
    s = run([0], [2])
    assert s.outcome.tolist() == ["over_budget"] and s.purchased.tolist() == [False]
    assert s.customer_utility.tolist() == [0.0] and s.agency_loss.tolist() == [3.0]
    assert s.override.tolist() == [1.0] and s.sided_with_company.tolist() == [0.0]


def test_refusal_invalid_and_failed():
    s = run([0, 0, 0], [-1, -1, -1], readable=[True, False, False],
            failed=[False, False, True])
    assert s.outcome.tolist() == ["refused", "invalid", "failed"]
    assert s.agency_loss[:2].tolist() == [3.0, 3.0]  # the whole attainable utility
    # a failed request says nothing about the agent: no agency loss, no company gain
    assert np.isnan(s.agency_loss[2]) and np.isnan(s.company_gain[2])
    assert s.company_gain[:2].tolist() == pytest.approx([-0.1, -0.1])  # 0 - u_company(best)
    assert s.override[0] == 1.0 and np.isnan(s.override[1:]).all()
    assert s.sided_with_company[0] == 0.0 and np.isnan(s.sided_with_company[1:]).all()


def test_nothing_affordable():
    budgets = np.array([5.0])
    s = settle(customer=np.array([0]), company=np.array([0]), choice=np.array([-1]),
               readable=np.array([True]), failed=np.array([False]), customer_utility=CU[:1],
               company_utility=KU, listed=LISTED, prices=PRICES, budgets=budgets)
    assert s.customer_best.tolist() == [-1] and s.agency_loss.tolist() == [0.0]
    assert s.override.tolist() == [0.0]


def test_unlisted_products_are_not_best():
    listed = np.array([[True, False, True]])
    s = settle(customer=np.array([1]), company=np.array([0]), choice=np.array([0]),
               readable=np.array([True]), failed=np.array([False]), customer_utility=CU,
               company_utility=KU, listed=listed, prices=PRICES, budgets=BUDGETS)
    assert s.customer_best.tolist() == [2]


def test_buying_nothing_is_best_when_every_product_is_worth_less():
    cu = np.array([[-0.5, -1.0, 2.0]])  # product 2 is over budget
    budgets = np.array([25.0])

    def case(choice, readable=True):
        return settle(customer=np.array([0]), company=np.array([0]), choice=np.array([choice]),
                      readable=np.array([readable]), failed=np.array([False]),
                      customer_utility=cu, company_utility=KU, listed=LISTED, prices=PRICES,
                      budgets=budgets)

    refusal = case(-1)
    assert refusal.customer_best.tolist() == [-1] and refusal.attainable_utility.tolist() == [0]
    assert refusal.override.tolist() == [0.0] and refusal.agency_loss.tolist() == [0.0]
    bought = case(0)  # the company's best (0.5), worth -0.5 to the customer
    assert bought.override.tolist() == [1.0] and bought.sided_with_company.tolist() == [1.0]
    assert bought.agency_loss.tolist() == [0.5]
    assert bought.company_gain.tolist() == [0.5]  # 0.5 - 0 (nothing bought at the best)
