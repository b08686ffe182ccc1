//! The knowledge base's in-process search index (sans-IO): an inverted index over the jieba words
//! of published articles, the synonym groups, BM25 ranking and `<mark>` snippets.
//!
//! Why not the database's full text any more: a search was two statements, and on SQLite every
//! statement is a hand-off to the connection's own thread (futex wake/wait, channels), which
//! capped search near 1,000/s on two cores while the ranking itself took well under 1 ms. The
//! corpus is small (thousands of articles, not millions), so an index in memory answers without
//! any hand-off.
//!
//! Why our own index rather than tantivy (which has jieba tokenizers): the searches must keep
//! today's semantics exactly (each query word an OR of itself and its synonyms, a synonym jieba
//! splits an AND of its parts, words most articles contain pruned, FTS5's bm25 with the title
//! weighted 5 and the body 1, FTS5's snippet window), which here is ~300 lines that are tested
//! against FTS5 itself (see `kb::tests`); tantivy would bring its own scoring, query parser and
//! segment files, a second copy of the texts on disk, and a large dependency, for a corpus that
//! fits in a few megabytes of memory.
//!
//! The database stays the source of truth: the index is built from it at start (from the
//! segmented words the database keeps, `kb_fts` / `kb_search`) and changed only after a write
//! committed (see `kb::KnowledgeBase`).

use std::collections::{BTreeMap, HashMap};

/// FTS5's bm25 constants.
const K1: f64 = 1.2;
const B: f64 = 0.75;
/// Column weights, as `bm25(0.0, 5.0, 1.0)` gave them: a word in the title counts five times.
const TITLE_WEIGHT: f64 = 5.0;
const BODY_WEIGHT: f64 = 1.0;
/// Words in a snippet, as `snippet(..., 24)` had.
const SNIPPET_WORDS: usize = 24;

/// One published article as the index keeps it.
#[derive(Debug, Clone)]
struct Doc {
    id: String,
    title: String,
    category_code: String,
    /// Occurrences of each word in the segmented title and body.
    title_tf: HashMap<String, u32>,
    body_tf: HashMap<String, u32>,
    /// The segmented body, word by word, for snippets.
    body_words: Vec<String>,
    /// Words in title and body together (bm25's document length).
    len: u32,
}

/// A ranked hit before it becomes the API's `Hit`.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexHit {
    pub id: String,
    pub title: String,
    pub category_code: String,
    pub score: f64,
    /// Segmented words with `<mark>` tags, spaces between words (as FTS5 gave it).
    pub snippet: String,
}

#[derive(Debug, Clone, Copy)]
struct Posting {
    slot: u32,
    title_tf: u32,
    body_tf: u32,
}

/// The index. Slots keep postings small (u32) and stable while articles come and go.
#[derive(Debug, Default)]
pub struct KbIndex {
    docs: Vec<Option<Doc>>,
    free: Vec<u32>,
    slot_of: HashMap<String, u32>,
    /// word → the articles containing it (title or body), unordered, with its counts there:
    /// scoring walks these lists, without a lookup per article.
    postings: HashMap<String, Vec<Posting>>,
    /// Sum of `len` over all articles (for the average length).
    total_len: u64,
    /// word → the main word of its synonym group.
    group_of: HashMap<String, String>,
    /// main word → the group's words (main included) with the index words each must match.
    groups: BTreeMap<String, Vec<(String, Vec<String>)>>,
}

fn words(segmented: &str) -> impl Iterator<Item = &str> {
    segmented.split(' ').filter(|w| !w.is_empty())
}

fn counts(segmented: &str) -> HashMap<String, u32> {
    let mut m: HashMap<String, u32> = HashMap::new();
    for w in words(segmented) {
        *m.entry(w.to_string()).or_default() += 1;
    }
    m
}

impl KbIndex {
    pub fn new() -> KbIndex {
        KbIndex::default()
    }

    /// Published articles in the index.
    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slot_of.is_empty()
    }

    /// Adds or replaces a published article; `title_seg` / `body_seg` are `kb::segment` output.
    pub fn upsert(
        &mut self,
        id: &str,
        title: &str,
        category_code: &str,
        title_seg: &str,
        body_seg: &str,
    ) {
        self.remove(id);
        let title_tf = counts(title_seg);
        let body_tf = counts(body_seg);
        let body_words: Vec<String> = words(body_seg).map(str::to_string).collect();
        let len = (words(title_seg).count() + body_words.len()) as u32;
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.docs.push(None);
                (self.docs.len() - 1) as u32
            }
        };
        let mut distinct: Vec<&String> = title_tf.keys().chain(body_tf.keys()).collect();
        distinct.sort();
        distinct.dedup();
        for w in distinct {
            self.postings.entry(w.clone()).or_default().push(Posting {
                slot,
                title_tf: title_tf.get(w).copied().unwrap_or(0),
                body_tf: body_tf.get(w).copied().unwrap_or(0),
            });
        }
        self.total_len += u64::from(len);
        self.slot_of.insert(id.to_string(), slot);
        self.docs[slot as usize] = Some(Doc {
            id: id.to_string(),
            title: title.to_string(),
            category_code: category_code.to_string(),
            title_tf,
            body_tf,
            body_words,
            len,
        });
    }

    /// Takes an article out (retired, or back to draft); true when it was in.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(slot) = self.slot_of.remove(id) else {
            return false;
        };
        let Some(doc) = self.docs.get_mut(slot as usize).and_then(Option::take) else {
            return false;
        };
        for w in doc.title_tf.keys().chain(doc.body_tf.keys()) {
            if let Some(p) = self.postings.get_mut(w) {
                p.retain(|s| s.slot != slot);
                if p.is_empty() {
                    self.postings.remove(w);
                }
            }
        }
        self.total_len -= u64::from(doc.len);
        self.free.push(slot);
        true
    }

    /// Sets (replaces) a synonym group: `words` are (word, the index words it must all match),
    /// the main word among them.
    pub fn set_group(&mut self, main: &str, words: Vec<(String, Vec<String>)>) {
        self.remove_group(main);
        for (w, _) in &words {
            self.group_of.insert(w.clone(), main.to_string());
        }
        self.groups.insert(main.to_string(), words);
    }

    pub fn remove_group(&mut self, main: &str) {
        if let Some(old) = self.groups.remove(main) {
            for (w, _) in old {
                self.group_of.remove(&w);
            }
        }
    }

    /// Articles containing `word`.
    pub fn docs_with(&self, word: &str) -> usize {
        self.postings.get(word).map_or(0, Vec::len)
    }

    /// The synonyms of `word` (its whole group, itself included) with their index words.
    pub fn synonyms_of(&self, word: &str) -> &[(String, Vec<String>)] {
        self.group_of
            .get(word)
            .and_then(|m| self.groups.get(m))
            .map_or(&[], Vec::as_slice)
    }

    /// The best `limit` articles matching any of `terms` (a term matches when the article has
    /// all its words), by bm25 over every word of every term, then by id.
    pub fn search(&self, terms: &[Vec<String>], limit: usize) -> Vec<IndexHit> {
        let n = self.len();
        if n == 0 || terms.is_empty() {
            return Vec::new();
        }
        let mut matched: Vec<u32> = Vec::new();
        for t in terms {
            let mut lists: Vec<&Vec<Posting>> = Vec::with_capacity(t.len());
            for w in t {
                match self.postings.get(w) {
                    Some(p) => lists.push(p),
                    None => {
                        lists.clear();
                        break;
                    }
                }
            }
            if lists.is_empty() {
                continue;
            }
            lists.sort_by_key(|p| p.len());
            let (first, rest) = lists.split_first().expect("not empty");
            matched.extend(
                first
                    .iter()
                    .map(|p| p.slot)
                    .filter(|s| rest.iter().all(|l| l.iter().any(|p| p.slot == *s))),
            );
        }
        matched.sort_unstable();
        matched.dedup();
        // Each word of each term is one FTS5 phrase, counted once per occurrence in the query.
        let phrases: Vec<&str> = terms.iter().flatten().map(String::as_str).collect();
        let idf: Vec<f64> = phrases
            .iter()
            .map(|w| {
                let hits = self.docs_with(w) as f64;
                let v = ((n as f64 - hits + 0.5) / (hits + 0.5)).ln();
                // FTS5 clamps: a word in more than half the articles weighs almost nothing.
                if v <= 0.0 {
                    1e-6
                } else {
                    v
                }
            })
            .collect();
        let avgdl = (self.total_len as f64 / n as f64).max(1.0);
        // One pass per phrase over its postings into a dense score array, phrases in query
        // order: the same additions in the same order as FTS5 makes per article.
        let mut score = vec![0.0f64; self.docs.len()];
        for (w, idf) in phrases.iter().zip(&idf) {
            for p in self.postings.get(*w).map_or(&[][..], Vec::as_slice) {
                let Some(d) = self.docs.get(p.slot as usize).and_then(Option::as_ref) else {
                    continue;
                };
                let norm = K1 * (1.0 - B + B * f64::from(d.len) / avgdl);
                let f = TITLE_WEIGHT * f64::from(p.title_tf) + BODY_WEIGHT * f64::from(p.body_tf);
                // FTS5's association, so scores agree to the last bit.
                score[p.slot as usize] += idf * ((f * (K1 + 1.0)) / (f + norm));
            }
        }
        let mut scored: Vec<(f64, &Doc)> = matched
            .iter()
            .filter_map(|s| {
                let d = self.docs.get(*s as usize).and_then(Option::as_ref)?;
                Some((score[*s as usize], d))
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
        scored.truncate(limit);
        scored
            .into_iter()
            .map(|(score, d)| IndexHit {
                id: d.id.clone(),
                title: d.title.clone(),
                category_code: d.category_code.clone(),
                score,
                snippet: snippet(&d.body_words, &phrases),
            })
            .collect()
    }
}

/// FTS5's snippet window over the body: each phrase hit is tried as a window start (centred on
/// the hits it covers), scored 1000 per distinct phrase and 1 per repeat; the body's start
/// is tried too with a bonus of 120. Matched words get `<mark>`, cut ends get `…`.
fn snippet(body: &[String], phrases: &[&str]) -> String {
    let n = body.len();
    // Hits in position order: (position, phrase index), as FTS5's instance list.
    let hits: Vec<(usize, usize)> = body
        .iter()
        .enumerate()
        .flat_map(|(pos, w)| {
            phrases
                .iter()
                .enumerate()
                .filter(move |(_, p)| **p == w.as_str())
                .map(move |(ip, _)| (pos, ip))
        })
        .collect();
    let score = |from: usize| -> (u32, Option<(usize, usize)>) {
        let mut seen = vec![false; phrases.len()];
        let mut s = 0;
        let mut span: Option<(usize, usize)> = None;
        for &(pos, ip) in hits
            .iter()
            .filter(|(p, _)| *p >= from && *p < from + SNIPPET_WORDS)
        {
            s += if seen[ip] { 1 } else { 1000 };
            seen[ip] = true;
            span = Some((span.map_or(pos, |(f, _)| f), pos + 1));
        }
        (s, span)
    };
    let (mut best, mut start) = (0u32, 0usize);
    for &(pos, _) in &hits {
        let (s, span) = score(pos);
        if s > best {
            best = s;
            let (first, last) = span.unwrap_or((pos, pos + 1));
            let adj = first as i64 - (SNIPPET_WORDS as i64 - (last - first) as i64) / 2;
            let adj = adj.min(n as i64 - SNIPPET_WORDS as i64).max(0);
            start = adj as usize;
        }
        if n > SNIPPET_WORDS && pos > 0 {
            let s = score(0).0 + 120;
            if s > best {
                best = s;
                start = 0;
            }
        }
    }
    let end = (start + SNIPPET_WORDS).min(n);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    for (i, w) in body[start..end].iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if phrases.contains(&w.as_str()) {
            out.push_str("<mark>");
            out.push_str(w);
            out.push_str("</mark>");
        } else {
            out.push_str(w);
        }
    }
    if end < n {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(words: &[&str]) -> Vec<Vec<String>> {
        words.iter().map(|w| vec![w.to_string()]).collect()
    }

    #[test]
    fn upsert_remove_keep_postings_and_lengths_in_step() {
        let mut ix = KbIndex::new();
        ix.upsert("a", "路灯", "", "路灯 不亮", "路灯 不亮 请 报修");
        ix.upsert("b", "停水", "", "停水", "停水 通知 路灯");
        assert_eq!((ix.len(), ix.docs_with("路灯"), ix.total_len), (2, 2, 10));
        // Replacing an article replaces its words.
        ix.upsert("a", "路灯", "", "路灯", "报修");
        assert_eq!((ix.docs_with("不亮"), ix.total_len), (0, 6));
        assert!(ix.remove("b"));
        assert!(!ix.remove("b"));
        assert_eq!(
            (ix.len(), ix.docs_with("路灯"), ix.docs_with("停水")),
            (1, 1, 0)
        );
        // A freed slot is reused without mixing postings.
        ix.upsert("c", "c", "", "水费", "水费");
        assert_eq!(ix.search(&t(&["水费"]), 10)[0].id, "c");
        assert!(ix.search(&t(&["停水"]), 10).is_empty());
    }

    #[test]
    fn a_term_needs_all_its_words_and_terms_are_alternatives() {
        let mut ix = KbIndex::new();
        ix.upsert("a", "医保卡", "", "医保 卡", "医保 卡 补办");
        ix.upsert("b", "医保", "", "医保", "医保 报销");
        ix.upsert("c", "银行卡", "", "银行 卡", "银行 卡 挂失");
        let both = vec![vec!["医保".to_string(), "卡".to_string()]];
        let ids: Vec<String> = ix.search(&both, 10).into_iter().map(|h| h.id).collect();
        assert_eq!(ids, vec!["a"]);
        let either = t(&["报销", "挂失"]);
        let mut ids: Vec<String> = ix.search(&either, 10).into_iter().map(|h| h.id).collect();
        ids.sort();
        assert_eq!(ids, vec!["b", "c"]);
    }

    #[test]
    fn title_words_outrank_body_words_and_limit_applies() {
        let mut ix = KbIndex::new();
        ix.upsert("a", "x", "", "其他", "公积金 提取");
        ix.upsert("b", "y", "", "公积金", "提取");
        ix.upsert("c", "z", "", "无关", "无关 内容");
        let hits = ix.search(&t(&["公积金"]), 10);
        assert_eq!(hits[0].id, "b");
        assert!(hits[0].score > hits[1].score && hits[1].score > 0.0);
        assert_eq!(ix.search(&t(&["公积金"]), 1).len(), 1);
    }

    #[test]
    fn snippets_mark_words_and_cut_long_bodies() {
        let body: Vec<String> = (0..60).map(|i| format!("w{i}")).collect();
        let s = snippet(&body, &["w40"]);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("<mark>w40</mark>"), "{s}");
        assert_eq!(s.matches(' ').count(), SNIPPET_WORDS - 1);
        // No hit in the body: its first words.
        let s = snippet(&body, &["nothing"]);
        assert!(s.starts_with("w0 w1") && s.ends_with('…'), "{s}");
        let short: Vec<String> = vec!["路灯".into(), "不亮".into()];
        assert_eq!(snippet(&short, &["不亮"]), "路灯 <mark>不亮</mark>");
    }

    #[test]
    fn synonym_groups_are_replaced_whole() {
        let mut ix = KbIndex::new();
        let g = |w: &[&str]| {
            w.iter()
                .map(|w| (w.to_string(), vec![w.to_string()]))
                .collect()
        };
        ix.set_group("社保", g(&["社保", "社会保险"]));
        assert_eq!(ix.synonyms_of("社会保险").len(), 2);
        ix.set_group("社保", g(&["社保", "五险"]));
        assert!(ix.synonyms_of("社会保险").is_empty());
        assert_eq!(ix.synonyms_of("五险").len(), 2);
        ix.remove_group("社保");
        assert!(ix.synonyms_of("社保").is_empty());
    }
}
