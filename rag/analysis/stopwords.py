"""Every stop list irqa uses, defined once, each for one job.

They differ on purpose: BM25 drops only words that carry no meaning in any question (dropping
more cost recall on FinTruthQA), the evidence check also drops question words and generic nouns
that every filing has, and the grounding check names the capitalized English words that are not
proper nouns.
"""

from __future__ import annotations


def _wordlist(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: words BM25 never indexes or matches (Chinese function words, greetings, English function words)
SEARCH_STOP = _wordlist(
    """
    的 了 是 在 和 与 及 或 也 都 就 对 为 请问 公司 贵 谢谢 您好 你好 吗 呢 吧 啊 哪些 什么 怎么 如何 是否 有 有没有 a an the of to and
    or in on for is are be what how does did do about
    """
)
#: Chinese words that carry no topic: question words, fillers, generic nouns of every filing
TOPIC_STOP_ZH = _wordlist(
    """多少 哪些 哪个 哪家 哪里 哪天 什么 怎么 怎么样 怎样 如何 是否 为什么 有没有 请问 谢谢 公司 目前 今年 去年 明年
    是 的 了 在 和 与 及 或 也 都 就 对 为 有 吗 呢 吧 啊 这 那 这次 本次 此次 这份 那么 分别 情况 方面 相关 主要 一下
    可以 能否 会 能 将 还 又 哪 谁 几 多 是谁 什么样 一些 以及 其 贵 该 说 看 看待 认为 觉得 提到 表示 介绍 呢 啥
    大概 具体 多少钱 进行 已经 怎么看 怎么样了 只是 还是 整体 几个 哪年 上述 未来 现在 当前 近期 有何 何 为何 哪方面 哪几"""
)
#: English words that carry no topic (function words, question words, generic verbs)
TOPIC_STOP_EN = _wordlist(
    """a an the of to and or in on at for from by with about as is are was were be been being do does did done
    what which who whom whose when where why how much many any some its it this that these those there their
    they them he she his her we our you your i me my has have had will would can could should may might shall
    say said says think thinks view views see tell told give given describe explain mention mentioned
    company company's firm business whether if not no yes than then so also still ever yet up down out over
    into per each all both either more most less least very just only again new get got make made take
    and/or vs versus s t let lets please share's"""
)
#: capitalized English words that are not names (a sentence's first word, pronouns, filing words)
NOT_NAMES_EN = _wordlist(
    """
    i a an the this that these those it its they their we our he she his her you your in on at
    of for to from by with as and or but so if when while after before during since about
    according overall also however yes no not there here what which who how why company
    companies filing filings record records passage passages investor investors question answer
    note source sources q&a ir
    """
)


#: English month names → month number (question terms, the grounding check's numbers)
MONTHS_EN: dict[str, int] = {
    m: i
    for i, m in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ),
        start=1,
    )
}
