import numpy as np
import pytest
import scipy.sparse as sp
import torch

from qlib.metrics import evaluate
from qlib.ties import TIE_RULES, hits_ndcg_upper_bound, tie_broken, tie_profile


def fixed_scorer(table):
    table = torch.as_tensor(table, dtype=torch.float32)
    return lambda users: table[users]


def csr(rows, n_items):
    r = [i for i, items in enumerate(rows) for _ in items]
    c = [j for items in rows for j in items]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


def top1(scorer, user=0):
    return int(torch.topk(scorer(torch.tensor([user])), 1, dim=1).indices[0, 0])


def test_rules_decide_a_three_way_tie():
    scorer = fixed_scorer([[1.0, 1.0, 1.0, 0.0]])
    target = csr([[2]], 4)
    assert top1(tie_broken(scorer, "optimistic", 4, target)) == 2
    assert top1(tie_broken(scorer, "pessimistic", 4, target)) in (0, 1)
    assert top1(tie_broken(scorer, "low-index", 4)) == 0
    assert tie_broken(scorer, "as-is", 4) is scorer
    # recall@1 under the bounds: 1 when the relevant item wins the tie, 0 when it loses it
    up = evaluate(tie_broken(scorer, "optimistic", 4, target), target, ks=(1,))
    down = evaluate(tie_broken(scorer, "pessimistic", 4, target), target, ks=(1,))
    assert up["recall@1"] == 1.0 and down["recall@1"] == 0.0


def test_rules_keep_the_order_of_distinct_scores():
    gen = torch.Generator().manual_seed(0)
    table = torch.randint(-8, 9, (5, 40), generator=gen).float()   # few distinct values, many ties
    scorer = fixed_scorer(table)
    target = csr([[0, 3], [5], [7, 8, 9], [1], [39]], 40)
    users = torch.arange(5)
    for rule in TIE_RULES:
        s = tie_broken(scorer, rule, 40, target, seed=3)(users)
        order = torch.argsort(s, dim=1, descending=True)
        ranked = torch.gather(table, 1, order)
        assert torch.all(ranked[:, :-1] >= ranked[:, 1:]), rule          # never reorders distinct scores
        if rule in ("low-index", "random"):
            assert len(torch.unique(s[0])) == 40, rule                     # and leaves no tie


def test_bounds_bracket_every_rule_on_code_scores():
    gen = torch.Generator().manual_seed(1)
    codes_u = torch.randint(0, 2, (30, 8), generator=gen).float() * 2 - 1
    codes_i = torch.randint(0, 2, (60, 8), generator=gen).float() * 2 - 1
    scorer = fixed_scorer(codes_u @ codes_i.T)                              # 9 distinct values: heavy ties
    rng = np.random.default_rng(0)
    target = csr([list(rng.choice(60, 4, replace=False)) for _ in range(30)], 60)
    res = {rule: evaluate(tie_broken(scorer, rule, 60, target, seed=2), target, ks=(5,)) for rule in TIE_RULES}
    for rule in TIE_RULES:
        for m in ("recall@5", "ndcg@5"):
            assert res["pessimistic"][m] - 1e-12 <= res[rule][m] <= res["optimistic"][m] + 1e-12, (rule, m)
    assert res["optimistic"]["recall@5"] > res["pessimistic"]["recall@5"]   # ties matter at this width


def test_hits_ndcg_bound_covers_every_tie_order():
    gen = torch.Generator().manual_seed(4)
    codes_u = torch.randint(0, 2, (40, 6), generator=gen).float() * 2 - 1
    codes_i = torch.randint(0, 2, (50, 6), generator=gen).float() * 2 - 1
    scorer = fixed_scorer(codes_u @ codes_i.T)
    rng = np.random.default_rng(1)
    target = csr([list(rng.choice(50, 3, replace=False)) for _ in range(40)], 50)
    exclude = [csr([list(rng.choice(50, 5, replace=False)) for _ in range(40)], 50)]
    bound = hits_ndcg_upper_bound(scorer, target, exclude, k=5, width=15)
    seen = [evaluate(tie_broken(scorer, rule, 50, target, seed=s), target, exclude, ks=(5, 15))["ndcg_hits@5"]
            for rule in TIE_RULES for s in range(4)]
    assert max(seen) <= bound + 1e-12 and bound <= 1.0
    # per user the bound is exact where no tie crosses a cut: a scorer without ties meets it
    distinct = fixed_scorer(torch.randn(40, 50, generator=gen))
    plain = evaluate(distinct, target, exclude, ks=(5, 15))["ndcg_hits@5"]
    assert hits_ndcg_upper_bound(distinct, target, exclude, k=5, width=15) == pytest.approx(plain, abs=1e-12)
    with pytest.raises(ValueError, match="width"):
        hits_ndcg_upper_bound(scorer, target, k=5, width=3)


def test_random_rule_is_seeded():
    scorer = fixed_scorer(torch.zeros(2, 50))
    a = tie_broken(scorer, "random", 50, seed=7)(torch.arange(2))
    b = tie_broken(scorer, "random", 50, seed=7)(torch.arange(2))
    c = tie_broken(scorer, "random", 50, seed=8)(torch.arange(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_tie_rule_errors_name_the_problem():
    scorer = fixed_scorer([[1.0, 1.0]])
    with pytest.raises(ValueError, match="unknown tie rule"):
        tie_broken(scorer, "first", 2)
    with pytest.raises(ValueError, match="pass the evaluated split"):
        tie_broken(scorer, "optimistic", 2)
    with pytest.raises(ValueError, match="built for 3"):
        tie_broken(scorer, "low-index", 3)(torch.tensor([0]))
    many = fixed_scorer(torch.randn(1, 5000))
    with pytest.raises(ValueError, match="distinct scores"):
        tie_broken(many, "low-index", 5000)(torch.tensor([0]))


def test_tie_profile_counts_the_group_across_the_cut():
    # user 0: scores 3, 2, 2, 2, 1 -> the 2nd score (k = 2) is shared by 3 items; 1 slot decided by the tie
    # user 1: scores 5, 4, 3, 2, 1 -> no tie; user 2 has no target item and is skipped
    scorer = fixed_scorer([[3, 2, 2, 2, 1], [5, 4, 3, 2, 1], [0, 0, 0, 0, 0]])
    target = csr([[0], [1], []], 5)
    prof = tie_profile(scorer, target, k=2)
    assert prof == {"distinct_scores": 4.0, "tied_at_k": 2.0, "slots_decided_by_ties": 0.5,
                    "users_with_tie_at_cut": 0.5}
    # masking one of user 0's tied items (as training items are) shrinks the group, but it still crosses
    prof = tie_profile(scorer, target, exclude=[csr([[2], [], []], 5)], k=2)
    assert prof["tied_at_k"] == 1.5 and prof["slots_decided_by_ties"] == 0.5
    assert prof["distinct_scores"] == 4.0
