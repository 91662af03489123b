"""Generated worlds: reproducible, sized by level, questions answerable from their gold pages."""

from dataclasses import replace

import pytest

from turngym.envs.search_qa.world import LEVELS, WorldConfig, generate_questions, generate_world
from turngym.verifiers.answer_match import mentions_answer


def test_same_seed_same_world_and_questions():
    a = generate_world(replace(LEVELS["medium"], seed=5))
    b = generate_world(replace(LEVELS["medium"], seed=5))
    c = generate_world(replace(LEVELS["medium"], seed=6))
    assert a.corpus.content_hash() == b.corpus.content_hash() != c.corpus.content_hash()
    assert generate_questions(a, 20, seed=1) == generate_questions(b, 20, seed=1)
    assert generate_questions(a, 20, seed=1) != generate_questions(a, 20, seed=2)


@pytest.mark.parametrize("level", ["easy", "medium", "hard"])
def test_levels_have_their_size_hops_and_gold_evidence(level):
    config = LEVELS[level]
    world = generate_world(config)
    assert len(world.corpus) == config.passages
    tasks = generate_questions(world, 200)
    assert {t.hops for t in tasks} == set(range(config.min_hops, config.max_hops + 1))
    for task in tasks:
        assert len(task.gold_ids) == len(task.chain) == task.hops
        pages = [world.corpus.get(pid) for pid in task.gold_ids]
        assert all(p is not None for p in pages)
        # each hop's query names the entity whose page is that hop's gold passage
        for page, query in zip(pages, task.chain):
            assert query.startswith(page.title)
        # the last page states the answer
        assert mentions_answer(pages[-1].text, task.answers), (task, pages[-1])
        if config.name_answers_only:
            assert not task.answers[0].isdigit()


def test_largest_level_reaches_100k_passages():
    assert LEVELS["huge"].passages == 100_000


def test_bad_config_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="hops"):
        WorldConfig(min_hops=3, max_hops=2)
    with pytest.raises(ValueError, match="city per country"):
        WorldConfig(countries=5, cities=2)
