"""A small Chinese exact-term set for full-text search (written for this benchmark, in the style of TiDB's
Chinese documentation; no downloads).

48 passages and 24 queries. Each query is one exact term, mostly two-character words (向量, 副本, 索引),
the case a parser without Chinese word segmentation misses. A passage is relevant to a query when it
holds the term; the passages were written so that each term appears in two to six of them, often
inside a longer word (数据 in 数据库, 索引 in 向量索引) or next to Latin text (TiFlash副本).
"""

from __future__ import annotations

PASSAGES = [
    "TiDB 是一个开源的分布式关系型数据库，兼容 MySQL 协议。",
    "TiFlash副本是列存储的数据副本，用于加速分析查询。",
    "创建向量索引之前，需要先为表添加 TiFlash 副本。",
    "向量搜索通过计算向量之间的距离来查找相似的文档。",
    "全文搜索使用 BM25 算法对结果按相关性排序。",
    "混合搜索把向量搜索和全文搜索的结果融合在一起。",
    "使用 EMBED_TEXT 函数可以在写入时自动生成向量。",
    "自动嵌入功能让数据库直接调用嵌入模型。",
    "余弦距离越小，两个向量越相似。",
    "L2 距离是两个向量之间的欧氏距离。",
    "HNSW 是一种基于图的近似最近邻索引结构。",
    "分区表上不能添加向量索引，否则会报错 8200。",
    "在东京区域创建集群可以降低日本用户的延迟。",
    "集群的存储节点 TiKV 负责保存行存数据。",
    "PD 组件负责调度和分配时间戳。",
    "事务默认使用悲观锁模式，可以避免写冲突。",
    "乐观事务在提交时才检查冲突。",
    "慢查询日志可以帮助定位性能问题。",
    "执行计划显示优化器如何选择索引。",
    "统计信息过期会导致优化器选错执行计划。",
    "备份与恢复工具 BR 可以快速备份整个集群。",
    "数据迁移工具 DM 可以把 MySQL 的数据同步到 TiDB。",
    "TiCDC 可以把变更数据实时同步到下游系统。",
    "在线 DDL 不会阻塞读写操作。",
    "为大表添加索引时可以调整并发参数提高速度。",
    "字符集 utf8mb4 支持中文和表情符号。",
    "排序规则决定了字符串比较时是否区分大小写。",
    "多语言分词器支持中文、日文和韩文。",
    "NGRAM 分词器按字符切分文本，支持子串匹配。",
    "全文索引可以建在一个或多个文本列上。",
    "资源管控可以限制每个租户使用的资源。",
    "内存使用超过阈值时，查询会被终止。",
    "连接池的大小应当与应用的并发数相匹配。",
    "Python 驱动 PyMySQL 可以连接 TiDB 数据库。",
    "SQLAlchemy 是 Python 中常用的对象关系映射框架。",
    "Alembic 用于管理数据库结构的迁移版本。",
    "嵌入模型把文本转换成固定维度的向量。",
    "模型的维度必须与向量列声明的维度一致。",
    "过滤搜索先按条件过滤，再在剩下的行中做向量搜索。",
    "召回率衡量近似搜索找回了多少真正的近邻。",
    "检索增强生成先检索相关文档，再交给大模型回答。",
    "大模型的上下文窗口有限，需要对长文档分块。",
    "分块的大小会影响检索的效果。",
    "东京和新加坡的区域都支持全文搜索。",
    "读取副本可以分担主节点的查询压力。",
    "表情符号 🎉 也可以被全文搜索找到。",
    "监控面板展示集群的延迟和吞吐量。",
    "吞吐量是每秒完成的请求数量。",
]

QUERIES = [
    "向量", "副本", "索引", "数据", "东京", "分词", "距离", "集群", "事务", "冲突",
    "优化器", "同步", "模型", "维度", "检索", "全文", "延迟", "吞吐量", "分块", "TiFlash",
    "嵌入", "搜索", "迁移", "🎉",
]


def relevant(query: str) -> frozenset[int]:
    """The passages (indexes into PASSAGES) that hold ``query``."""
    return frozenset(i for i, passage in enumerate(PASSAGES) if query.lower() in passage.lower())
