//! Knowledge base (知识库): articles with a review workflow and Chinese full-text search.
//!
//! Workflow: draft → review (submit) → published (approve, by a reviewer other than the author)
//! or back to draft (reject); published → retired (下架); published or retired → draft (revise,
//! a new version). Every step is kept in `kb_history` with the text of that version.
//! Search: titles and bodies are segmented into words with jieba and stored space-separated,
//! in SQLite FTS5 or a PostgreSQL tsvector (only published articles; the engines keep the word
//! counts `kb_terms` from them); searches are answered by an in-process index built from those
//! words ([`super::kb_index`], BM25 as FTS5 ranks, the same on both engines), kept in step with
//! every committed write that changes what is published. Results are ranked and carry a snippet
//! with `<mark>` highlights.
//! Synonyms (同义词, source B1 L3153: main word ↔ associated words, applied at search time) widen
//! each query word to its group, so 社保 also finds articles that only say 社会保险.

use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use jieba_rs::Jieba;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::kb_index::KbIndex;
use super::lifecycle::Refusal;
use super::model::{Actor, Role};
use super::store::{Result, TicketError};
use crate::store::{Backend, Db};

fn jieba() -> &'static Jieba {
    static J: OnceLock<Jieba> = OnceLock::new();
    J.get_or_init(Jieba::new)
}

/// Words of `text` for indexing and querying: jieba's search-mode cut (long words and their
/// parts), lower-cased, punctuation dropped, space-separated. Bounded to 200,000 characters.
pub fn segment(text: &str) -> String {
    let text: String = text.chars().take(200_000).collect();
    jieba()
        .cut_for_search(&text, true)
        .into_iter()
        .filter(|w| w.chars().any(|c| c.is_alphanumeric()))
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_lowercase()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One word as the index stores it: lower-case letters and digits only.
fn normalize_word(w: &str) -> String {
    w.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The index tokens a synonym must all match: jieba's precise cut, so a phrase it splits
/// (医保 卡) becomes an AND of its words rather than one token the index never saw.
fn synonym_tokens(w: &str) -> Vec<String> {
    let mut out: Vec<String> = jieba()
        .cut(w, true)
        .into_iter()
        .map(normalize_word)
        .filter(|t| !t.is_empty())
        .collect();
    out.dedup();
    out
}

/// Question and function words citizens and agents type around the matter itself (如何补办社保卡,
/// 社保卡怎么补办); they match nothing useful and only widen what must be ranked. Query side only.
const QUERY_STOP_WORDS: [&str; 24] = [
    "怎么",
    "怎样",
    "怎么样",
    "如何",
    "什么",
    "哪里",
    "哪儿",
    "请问",
    "吗",
    "呢",
    "吧",
    "啊",
    "的",
    "了",
    "是",
    "我",
    "我们",
    "你",
    "你们",
    "可以",
    "能不能",
    "能否",
    "一下",
    "想",
];

/// The distinct words of a query (at most 16), without stop words unless nothing else is left.
fn query_words(query: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for w in segment(query).split(' ').filter(|w| !w.is_empty()) {
        if !seen.iter().any(|s| s == w) && seen.len() < 16 {
            seen.push(w.to_string());
        }
    }
    let content: Vec<String> = seen
        .iter()
        .filter(|w| !QUERY_STOP_WORDS.contains(&w.as_str()))
        .cloned()
        .collect();
    if content.is_empty() {
        seen
    } else {
        content
    }
}

/// Below this many published articles word statistics mean little, so nothing is pruned.
const PRUNE_MIN_ARTICLES: i64 = 20;

/// Drops the words more than half of the `n` articles contain (`df`: word → article count),
/// keeping the others; keeps everything when nothing else would be left. bm25 gives such words
/// no weight (FTS5 clamps their IDF to ~0), yet they match nearly every article, so ranking them
/// is most of a search's work (办理 in a government knowledge base).
fn prune(words: Vec<String>, df: &[(String, i64)], n: i64) -> Vec<String> {
    if n < PRUNE_MIN_ARTICLES {
        return words;
    }
    let common = |w: &String| df.iter().any(|(t, d)| t == w && d * 2 > n);
    let kept: Vec<String> = words.iter().filter(|w| !common(w)).cloned().collect();
    if kept.is_empty() {
        words
    } else {
        kept
    }
}

/// A synonym group: the main word and its associated words.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SynonymGroup {
    pub main: String,
    pub words: Vec<String>,
}

/// Removes the spaces segmentation put between CJK words (and around highlight tags).
fn despace(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, c) in chars.iter().enumerate() {
        if *c == ' ' {
            let prev = i
                .checked_sub(1)
                .and_then(|j| chars.get(j))
                .copied()
                .unwrap_or(' ');
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            let wide = |ch: char| !ch.is_ascii() || ch == '<' || ch == '>';
            if wide(prev)
                && wide(next)
                && !(prev.is_ascii_alphanumeric() || next.is_ascii_alphanumeric())
            {
                continue;
            }
        }
        out.push(*c);
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KbStatus {
    Draft,
    Review,
    Published,
    Retired,
}

impl KbStatus {
    fn as_str(self) -> &'static str {
        match self {
            KbStatus::Draft => "draft",
            KbStatus::Review => "review",
            KbStatus::Published => "published",
            KbStatus::Retired => "retired",
        }
    }
    fn parse(s: &str) -> Option<KbStatus> {
        [
            KbStatus::Draft,
            KbStatus::Review,
            KbStatus::Published,
            KbStatus::Retired,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KbAction {
    Submit,
    Approve,
    Reject,
    Retire,
    Revise,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Article {
    pub id: String,
    pub title: String,
    pub body: String,
    pub category_code: String,
    pub status: KbStatus,
    pub version: i64,
    pub author: String,
    pub reviewer: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub published_ms: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArticleInput {
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub category_code: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KbHistory {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub from: String,
    pub to: String,
    pub version: i64,
    pub title: String,
    pub opinion: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Hit {
    pub id: String,
    pub title: String,
    pub category_code: String,
    /// Higher is better.
    pub score: f64,
    /// Body excerpt with `<mark>` around matched words.
    pub snippet: String,
}

fn refused(kind: u16, code: &'static str, reason: impl Into<String>) -> TicketError {
    let reason = reason.into();
    TicketError::Refused(match kind {
        403 => Refusal::Forbidden { code, reason },
        409 => Refusal::Conflict { code, reason },
        _ => Refusal::Invalid { code, reason },
    })
}

fn is_author(a: &Actor) -> bool {
    a.has(Role::Agent) || a.has(Role::Reviewer) || a.has(Role::Dispatcher)
}

fn validate(input: &ArticleInput) -> Result<()> {
    if input.title.trim().is_empty() || input.title.chars().count() > 200 {
        return Err(refused(
            422,
            "title",
            "a title of 1-200 characters is required",
        ));
    }
    if input.body.trim().is_empty() || input.body.chars().count() > 100_000 {
        return Err(refused(
            422,
            "body",
            "a body of 1-100000 characters is required",
        ));
    }
    Ok(())
}

const ACOLS: &str = "id, title, body, category_code, status, version, author, reviewer, created_ms, updated_ms, published_ms";

fn row_article(r: &sqlx::any::AnyRow) -> std::result::Result<Article, sqlx::Error> {
    let status: String = r.try_get("status")?;
    Ok(Article {
        id: r.try_get("id")?,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        category_code: r.try_get("category_code")?,
        status: KbStatus::parse(&status).unwrap_or(KbStatus::Draft),
        version: r.try_get("version")?,
        author: r.try_get("author")?,
        reviewer: r.try_get("reviewer")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
        published_ms: r.try_get("published_ms")?,
    })
}

/// The knowledge base over one database. Clones share one search index: a process makes one
/// `KnowledgeBase` (the API's, in `ApiState`) and hands out clones, so every write path keeps
/// the same index in step. Another `KnowledgeBase::new` over the same database has an index of
/// its own that does not see this one's writes until it is rebuilt ([`KnowledgeBase::load`]).
#[derive(Clone)]
pub struct KnowledgeBase {
    pub db: Db,
    shared: Arc<Shared>,
}

struct Shared {
    /// `None` until the first search (or [`KnowledgeBase::load`]) builds it from the database.
    index: RwLock<Option<KbIndex>>,
    /// Held by every write that changes published content or synonyms, from before its
    /// transaction to after the index took the change, and by the build: so the index applies
    /// commits in their order and a build never misses one.
    writes: tokio::sync::Mutex<()>,
}

impl KnowledgeBase {
    pub fn new(db: Db) -> KnowledgeBase {
        KnowledgeBase {
            db,
            shared: Arc::new(Shared {
                index: RwLock::new(None),
                writes: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// (Re)builds the search index from the database; returns the published articles in it.
    /// Called at start; searches build it on first use otherwise.
    pub async fn load(&self) -> Result<usize> {
        let _w = self.shared.writes.lock().await;
        self.build().await
    }

    /// Builds the index from the database, replacing any; `writes` must be held.
    async fn build(&self) -> Result<usize> {
        let started = std::time::Instant::now();
        // The words the database keeps for published articles: no re-segmentation at start.
        let sql = match self.db.backend {
            Backend::Sqlite => {
                "SELECT a.id, a.title AS raw_title, a.category_code, f.title AS title_seg, f.body AS body_seg
                 FROM kb_fts f JOIN kb_articles a ON a.id = f.article_id WHERE a.status = 'published'"
            }
            Backend::Postgres => {
                "SELECT a.id, a.title AS raw_title, a.category_code, s.title_seg, s.body_seg
                 FROM kb_search s JOIN kb_articles a ON a.id = s.article_id WHERE a.status = 'published'"
            }
        };
        let mut ix = KbIndex::new();
        for r in sqlx::query(sql).fetch_all(&self.db.pool).await? {
            let id: String = r.try_get("id")?;
            let title: String = r.try_get("raw_title")?;
            let category: String = r.try_get("category_code")?;
            let title_seg: String = r.try_get("title_seg")?;
            let body_seg: String = r.try_get("body_seg")?;
            ix.upsert(&id, &title, &category, &title_seg, &body_seg);
        }
        for g in self.synonyms().await? {
            let words = std::iter::once(g.main.clone())
                .chain(g.words)
                .map(|w| {
                    let t = synonym_tokens(&w);
                    (w, t)
                })
                .collect();
            ix.set_group(&g.main, words);
        }
        let n = ix.len();
        *self
            .shared
            .index
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(ix);
        tracing::info!(
            articles = n,
            ms = started.elapsed().as_millis() as u64,
            "knowledge-base index built"
        );
        Ok(n)
    }

    async fn ensure_loaded(&self) -> Result<()> {
        if self.is_loaded() {
            return Ok(());
        }
        let _w = self.shared.writes.lock().await;
        if !self.is_loaded() {
            self.build().await?;
        }
        Ok(())
    }

    fn is_loaded(&self) -> bool {
        self.shared
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Applies a committed change to the index, if it is built (a later build reads the
    /// database, which has the change). `writes` must be held.
    fn apply(&self, f: impl FnOnce(&mut KbIndex)) {
        if let Some(ix) = self
            .shared
            .index
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            f(ix);
        }
    }

    /// Runs a write that changes the index in a task of its own, holding `writes`: a caller that
    /// goes away (an HTTP client hanging up drops the handler) cannot stop it between the commit
    /// and the index update.
    async fn locked<T, F>(&self, f: impl FnOnce(KnowledgeBase) -> F) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let fut = f(self.clone());
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let _w = shared.writes.lock().await;
            fut.await
        })
        .await
        .map_err(|e| TicketError::Corrupt(format!("knowledge-base write task: {e}")))?
    }

    pub async fn create(&self, actor: &Actor, input: ArticleInput, now: i64) -> Result<Article> {
        if !is_author(actor) {
            return Err(refused(
                403,
                "role",
                "writing knowledge needs the agent, dispatcher or reviewer role",
            ));
        }
        validate(&input)?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut tx = self.db.pool.begin().await?;
        sqlx::query(
            "INSERT INTO kb_articles (id, title, body, category_code, status, version, author, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, 'draft', 1, $5, $6, $6)",
        )
        .bind(&id)
        .bind(&input.title)
        .bind(&input.body)
        .bind(&input.category_code)
        .bind(&actor.user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        history(
            &mut tx,
            &id,
            now,
            &actor.user_id,
            "create",
            "draft",
            "draft",
            1,
            &input.title,
            &input.body,
            "",
        )
        .await?;
        tx.commit().await?;
        self.get(&id, actor).await
    }

    /// An article: published ones for everyone, others for authors and reviewers.
    pub async fn get(&self, id: &str, actor: &Actor) -> Result<Article> {
        let r = sqlx::query(&format!("SELECT {ACOLS} FROM kb_articles WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(TicketError::NotFound)?;
        let a = row_article(&r)?;
        if a.status != KbStatus::Published && !is_author(actor) {
            return Err(TicketError::NotFound);
        }
        Ok(a)
    }

    /// Edits a draft (the author's or a reviewer's).
    pub async fn edit(
        &self,
        id: &str,
        actor: &Actor,
        input: ArticleInput,
        now: i64,
    ) -> Result<Article> {
        validate(&input)?;
        let a = self.get(id, actor).await?;
        if a.author != actor.user_id && !actor.has(Role::Reviewer) {
            return Err(refused(
                403,
                "not_author",
                "only the author or a reviewer edits a draft",
            ));
        }
        if a.status != KbStatus::Draft {
            return Err(refused(
                409,
                "state",
                format!(
                    "a {} article cannot be edited; revise it first",
                    a.status.as_str()
                ),
            ));
        }
        let mut tx = self.db.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE kb_articles SET title = $1, body = $2, category_code = $3, updated_ms = $4 WHERE id = $5 AND status = 'draft'",
        )
        .bind(&input.title)
        .bind(&input.body)
        .bind(&input.category_code)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(TicketError::Busy);
        }
        history(
            &mut tx,
            id,
            now,
            &actor.user_id,
            "edit",
            "draft",
            "draft",
            a.version,
            &input.title,
            &input.body,
            "",
        )
        .await?;
        tx.commit().await?;
        self.get(id, actor).await
    }

    /// One workflow step; refused with 403 (role, four eyes) or 409 (state).
    pub async fn act(
        &self,
        id: &str,
        actor: &Actor,
        action: KbAction,
        opinion: &str,
        now: i64,
    ) -> Result<Article> {
        let (id, actor, opinion) = (id.to_string(), actor.clone(), opinion.to_string());
        self.locked(
            move |kb| async move { kb.act_locked(&id, &actor, action, &opinion, now).await },
        )
        .await
    }

    async fn act_locked(
        &self,
        id: &str,
        actor: &Actor,
        action: KbAction,
        opinion: &str,
        now: i64,
    ) -> Result<Article> {
        let a = self.get(id, actor).await?;
        use KbAction::*;
        use KbStatus::*;
        let (allowed, to): (&[KbStatus], KbStatus) = match action {
            Submit => (&[Draft], Review),
            Approve | Reject => (&[Review], if action == Approve { Published } else { Draft }),
            Retire => (&[Published], Retired),
            Revise => (&[Published, Retired], Draft),
        };
        match action {
            Approve | Reject | Retire if !actor.has(Role::Reviewer) => {
                return Err(refused(403, "role", "this step needs the reviewer role"));
            }
            Approve if a.author == actor.user_id => {
                return Err(refused(
                    403,
                    "four_eyes",
                    "an author cannot approve their own article",
                ));
            }
            Submit | Revise if !is_author(actor) => {
                return Err(refused(403, "role", "this step needs an author"))
            }
            _ => {}
        }
        if !allowed.contains(&a.status) {
            return Err(refused(
                409,
                "state",
                format!("cannot {action:?} a {} article", a.status.as_str()),
            ));
        }
        if opinion.chars().count() > 2000 {
            return Err(refused(422, "opinion", "the opinion is too long"));
        }
        let version = if action == Revise {
            a.version + 1
        } else {
            a.version
        };
        let mut tx = self.db.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE kb_articles SET status = $1, version = $2, updated_ms = $3,
               reviewer = CASE WHEN $4 = 1 THEN $5 ELSE reviewer END,
               published_ms = CASE WHEN $6 = 1 THEN $3 ELSE published_ms END
             WHERE id = $7 AND status = $8",
        )
        .bind(to.as_str())
        .bind(version)
        .bind(now)
        .bind(i64::from(matches!(action, Approve | Reject)))
        .bind(&actor.user_id)
        .bind(i64::from(action == Approve))
        .bind(id)
        .bind(a.status.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(TicketError::Busy);
        }
        let mut published = None;
        if to == Published {
            published = Some(self.index(&mut tx, &a).await?);
        } else if a.status == Published {
            self.unindex(&mut tx, id).await?;
        }
        let name = serde_json::to_value(action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        history(
            &mut tx,
            id,
            now,
            &actor.user_id,
            &name,
            a.status.as_str(),
            to.as_str(),
            version,
            &a.title,
            &a.body,
            opinion,
        )
        .await?;
        tx.commit().await?;
        match published {
            Some((title_seg, body_seg)) => {
                self.apply(|ix| ix.upsert(id, &a.title, &a.category_code, &title_seg, &body_seg))
            }
            None if a.status == Published => self.apply(|ix| {
                ix.remove(id);
            }),
            None => {}
        }
        tracing::info!(article = %id, action = %name, by = %actor.user_id, "knowledge step");
        self.get(id, actor).await
    }

    /// Puts a published article's words in the database; returns them (title, body).
    async fn index(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        a: &Article,
    ) -> Result<(String, String)> {
        let (title, body) = (segment(&a.title), segment(&a.body));
        self.unindex(tx, &a.id).await?;
        let sql = match self.db.backend {
            Backend::Sqlite => "INSERT INTO kb_fts (article_id, title, body) VALUES ($1, $2, $3)",
            Backend::Postgres => {
                "INSERT INTO kb_search (article_id, title_seg, body_seg, tsv)
                 VALUES ($1, $2, $3, setweight(to_tsvector('simple', $2), 'A') || to_tsvector('simple', $3))"
            }
        };
        sqlx::query(sql)
            .bind(&a.id)
            .bind(&title)
            .bind(&body)
            .execute(&mut **tx)
            .await?;
        Ok((title, body))
    }

    async fn unindex(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str) -> Result<()> {
        let sql = match self.db.backend {
            Backend::Sqlite => "DELETE FROM kb_fts WHERE article_id = $1",
            Backend::Postgres => "DELETE FROM kb_search WHERE article_id = $1",
        };
        sqlx::query(sql).bind(id).execute(&mut **tx).await?;
        Ok(())
    }

    /// Sets (replaces) the synonym group of `main`; knowledge managers (reviewers) only.
    /// A word may belong to one group: a word of another group is refused with 409.
    pub async fn set_synonyms(&self, actor: &Actor, group: SynonymGroup) -> Result<SynonymGroup> {
        let actor = actor.clone();
        self.locked(move |kb| async move { kb.set_synonyms_locked(&actor, group).await })
            .await
    }

    async fn set_synonyms_locked(
        &self,
        actor: &Actor,
        group: SynonymGroup,
    ) -> Result<SynonymGroup> {
        if !actor.has(Role::Reviewer) {
            return Err(refused(403, "role", "synonyms need the reviewer role"));
        }
        let main = normalize_word(&group.main);
        let mut words: Vec<String> = Vec::new();
        for w in &group.words {
            let w = normalize_word(w);
            if !w.is_empty() && w != main && !words.contains(&w) {
                words.push(w);
            }
        }
        if main.is_empty() || main.chars().count() > 50 || words.is_empty() || words.len() > 50 {
            return Err(refused(
                422,
                "synonyms",
                "a main word and 1-50 other words, each of letters or digits, at most 50 long",
            ));
        }
        if words.iter().any(|w| w.chars().count() > 50) {
            return Err(refused(
                422,
                "synonyms",
                "a word is longer than 50 characters",
            ));
        }
        let mut tx = self.db.pool.begin().await?;
        // Writes first (SQLite cannot upgrade a reader).
        sqlx::query("DELETE FROM kb_synonyms WHERE main_word = $1")
            .bind(&main)
            .execute(&mut *tx)
            .await?;
        for w in std::iter::once(&main).chain(words.iter()) {
            let taken = sqlx::query("SELECT main_word FROM kb_synonyms WHERE word = $1")
                .bind(w)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(r) = taken {
                let other: String = r.try_get("main_word")?;
                return Err(refused(
                    409,
                    "synonym_taken",
                    format!("`{w}` already belongs to the group of `{other}`"),
                ));
            }
            sqlx::query("INSERT INTO kb_synonyms (word, main_word) VALUES ($1, $2)")
                .bind(w)
                .bind(&main)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let indexed = std::iter::once(&main)
            .chain(words.iter())
            .map(|w| (w.clone(), synonym_tokens(w)))
            .collect();
        self.apply(|ix| ix.set_group(&main, indexed));
        tracing::info!(main = %main, words = words.len(), by = %actor.user_id, "synonyms set");
        Ok(SynonymGroup { main, words })
    }

    /// Removes the group of `main`; true when it existed.
    pub async fn delete_synonyms(&self, actor: &Actor, main: &str) -> Result<bool> {
        if !actor.has(Role::Reviewer) {
            return Err(refused(403, "role", "synonyms need the reviewer role"));
        }
        let main = normalize_word(main);
        self.locked(move |kb| async move {
            let n = sqlx::query("DELETE FROM kb_synonyms WHERE main_word = $1")
                .bind(&main)
                .execute(&kb.db.pool)
                .await?
                .rows_affected();
            kb.apply(|ix| ix.remove_group(&main));
            Ok(n > 0)
        })
        .await
    }

    /// Every synonym group, by main word.
    pub async fn synonyms(&self) -> Result<Vec<SynonymGroup>> {
        let rows = sqlx::query("SELECT word, main_word FROM kb_synonyms ORDER BY main_word, word")
            .fetch_all(&self.db.pool)
            .await?;
        let mut out: Vec<SynonymGroup> = Vec::new();
        for r in rows {
            let (w, m): (String, String) = (r.try_get("word")?, r.try_get("main_word")?);
            if out.last().is_none_or(|g| g.main != m) {
                out.push(SynonymGroup {
                    main: m.clone(),
                    words: Vec::new(),
                });
            }
            if w != m {
                if let Some(g) = out.last_mut() {
                    g.words.push(w);
                }
            }
        }
        Ok(out)
    }

    pub async fn history(&self, id: &str, actor: &Actor) -> Result<Vec<KbHistory>> {
        self.get(id, actor).await?;
        let rows = sqlx::query(
            "SELECT seq, at_ms, actor, action, from_status, to_status, version, title, opinion FROM kb_history
             WHERE article_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KbHistory {
                    seq: r.try_get("seq")?,
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    from: r.try_get("from_status")?,
                    to: r.try_get("to_status")?,
                    version: r.try_get("version")?,
                    title: r.try_get("title")?,
                    opinion: r.try_get("opinion")?,
                })
            })
            .collect()
    }

    /// Published articles matching `query`, best first (at most `limit`, ≤ 50).
    pub async fn search(&self, query: &str, limit: u32) -> Result<Vec<Hit>> {
        let words = query_words(query);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        self.ensure_loaded().await?;
        let guard = self
            .shared
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(ix) = guard.as_ref() else {
            return Ok(Vec::new());
        };
        let terms = terms(ix, words);
        Ok(ix
            .search(&terms, limit.clamp(1, 50) as usize)
            .into_iter()
            .map(|h| Hit {
                id: h.id,
                title: h.title,
                category_code: h.category_code,
                score: h.score,
                snippet: despace(&h.snippet),
            })
            .collect())
    }

    /// The same search by SQLite FTS5, as it was answered before the in-process index: the
    /// reference the index is tested against.
    #[cfg(test)]
    async fn fts5_search(&self, query: &str, limit: u32) -> Result<Vec<Hit>> {
        let words = query_words(query);
        let terms = {
            self.ensure_loaded().await?;
            let g = self.shared.index.read().unwrap();
            terms(g.as_ref().unwrap(), words)
        };
        let q = terms
            .iter()
            .map(|t| {
                let parts: Vec<String> = t.iter().map(|w| format!("\"{w}\"")).collect();
                format!("({})", parts.join(" AND "))
            })
            .collect::<Vec<_>>()
            .join(" OR ");
        let rows = sqlx::query(
            "SELECT a.id, a.title, a.category_code, -f.rank AS score,
                    snippet(kb_fts, 2, '<mark>', '</mark>', '…', 24) AS snip
             FROM kb_fts f JOIN kb_articles a ON a.id = f.article_id
             WHERE kb_fts MATCH $1 AND f.rank MATCH 'bm25(0.0, 5.0, 1.0)'
             ORDER BY f.rank, a.id LIMIT $2",
        )
        .bind(q)
        .bind(i64::from(limit))
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Hit {
                    id: r.try_get("id")?,
                    title: r.try_get("title")?,
                    category_code: r.try_get("category_code")?,
                    score: r.try_get("score")?,
                    snippet: despace(&r.try_get::<String, _>("snip")?),
                })
            })
            .collect()
    }
}

/// The search terms of a query's words: common words left out (see [`prune`]), each remaining
/// word widened by its synonym group (one term per distinct word or synonym, each term the
/// words that must all match; at most 48).
fn terms(ix: &KbIndex, words: Vec<String>) -> Vec<Vec<String>> {
    let df: Vec<(String, i64)> = words
        .iter()
        .map(|w| (w.clone(), ix.docs_with(w) as i64))
        .collect();
    let kept = prune(words, &df, ix.len() as i64);
    let mut terms: Vec<Vec<String>> = kept.iter().map(|w| vec![w.clone()]).collect();
    let mut synonyms: Vec<(&String, &(String, Vec<String>))> = kept
        .iter()
        .flat_map(|w| ix.synonyms_of(w).iter().map(move |s| (w, s)))
        .collect();
    synonyms.sort_by(|a, b| (a.0, &a.1 .0).cmp(&(b.0, &b.1 .0)));
    for (_, (_, t)) in synonyms {
        if !t.is_empty() && !terms.contains(t) && terms.len() < 48 {
            terms.push(t.clone());
        }
    }
    terms
}

#[allow(clippy::too_many_arguments)] // one history row's columns
async fn history(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    now: i64,
    actor: &str,
    action: &str,
    from: &str,
    to: &str,
    version: i64,
    title: &str,
    body: &str,
    opinion: &str,
) -> Result<()> {
    let seq: i64 =
        sqlx::query("SELECT COALESCE(MAX(seq), 0) AS n FROM kb_history WHERE article_id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?
            .try_get("n")?;
    sqlx::query(
        "INSERT INTO kb_history (article_id, seq, at_ms, actor, action, from_status, to_status, version, title, body, opinion)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(seq + 1)
    .bind(now)
    .bind(actor)
    .bind(action)
    .bind(from)
    .bind(to)
    .bind(version)
    .bind(title)
    .bind(body)
    .bind(opinion)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segmentation_splits_chinese_words() {
        let s = segment("社保卡如何补办？请到人力资源和社会保障局办理。");
        let words: Vec<&str> = s.split(' ').collect();
        assert!(words.contains(&"社保卡") || words.contains(&"社保"), "{s}");
        assert!(words.contains(&"补办"), "{s}");
        assert!(!s.contains('？') && !s.contains('。'));
        assert_eq!(segment("  ，。"), "");
        assert_eq!(segment("ABC 12345"), "abc 12345");
    }

    #[test]
    fn queries_drop_question_words_unless_nothing_else_is_left() {
        let w = query_words("社保卡怎么补办？");
        assert!(w.contains(&"补办".to_string()), "{w:?}");
        assert!(!w.contains(&"怎么".to_string()), "{w:?}");
        assert_eq!(query_words("怎么"), vec!["怎么".to_string()]);
        assert!(query_words("，。").is_empty());
        let many = "路灯 ".repeat(3) + &(0..30).map(|i| format!("w{i} ")).collect::<String>();
        assert_eq!(query_words(&many).len(), 16);
    }

    #[test]
    fn words_most_articles_contain_are_pruned_when_others_remain() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let df = vec![("办理".to_string(), 1900), ("社保".to_string(), 200)];
        assert_eq!(prune(w(&["社保", "办理"]), &df, 2000), w(&["社保"]));
        // Exactly half is kept; nothing left means everything is kept.
        let half = vec![("办理".to_string(), 1000)];
        assert_eq!(
            prune(w(&["社保", "办理"]), &half, 2000),
            w(&["社保", "办理"])
        );
        assert_eq!(prune(w(&["办理"]), &df, 2000), w(&["办理"]));
        // A small knowledge base is searched as typed.
        assert_eq!(prune(w(&["社保", "办理"]), &df, 19), w(&["社保", "办理"]));
    }

    #[test]
    fn despace_joins_cjk_but_keeps_latin_gaps() {
        assert_eq!(
            despace("路灯 <mark>不亮</mark> 怎么 办"),
            "路灯<mark>不亮</mark>怎么办"
        );
        assert_eq!(despace("call 12345 now"), "call 12345 now");
        assert_eq!(despace("拨打 12345 热线"), "拨打 12345 热线");
    }

    fn person(id: &str, role: Role) -> Actor {
        Actor {
            user_id: id.into(),
            roles: vec![role],
            region_scope: String::new(),
            department: None,
        }
    }

    /// The in-process index answers as SQLite FTS5 did: the same articles in the same order,
    /// the same bm25 scores and the same snippets, with synonyms, common-word pruning, long and
    /// short bodies, and after retiring, revising and re-publishing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn index_answers_as_fts5_did() {
        let db = crate::store::testing::sqlite().await;
        let kb = KnowledgeBase::new(db);
        let (agent, rev) = (person("ag", Role::Agent), person("rv", Role::Reviewer));
        let topics = [
            "社保卡补办",
            "路灯不亮",
            "拖欠工资",
            "公交线路调整",
            "停水通知",
            "食品安全投诉",
            "噪声污染",
            "医保卡挂失",
            "社会保险缴费",
            "道路破损维修",
        ];
        let mut ids = Vec::new();
        for i in 0..60usize {
            let t = topics[i % topics.len()];
            let extra = if i % 3 == 0 {
                // Long bodies: the snippet window has to be chosen and cut.
                format!(
                    "市民反映的问题较多，相关部门已经安排专人负责跟进处理，并会在规定的工作日内答复。{}问题请携带身份证原件。",
                    topics[(i * 7) % topics.len()]
                )
            } else {
                String::new()
            };
            let body = format!(
                "关于{t}的办理指南：市民可拨打12345热线或到政务服务中心窗口办理，第{i}号说明。{extra}"
            );
            let a = kb
                .create(
                    &agent,
                    ArticleInput {
                        title: format!("{t}问答{i}"),
                        body,
                        category_code: format!("c{}", i % 4),
                    },
                    i as i64,
                )
                .await
                .unwrap();
            kb.act(&a.id, &agent, KbAction::Submit, "", 1)
                .await
                .unwrap();
            kb.act(&a.id, &rev, KbAction::Approve, "", 2).await.unwrap();
            ids.push(a.id);
        }
        kb.set_synonyms(
            &rev,
            SynonymGroup {
                main: "社保".into(),
                words: vec!["社会保险".into(), "医保卡".into()],
            },
        )
        .await
        .unwrap();
        kb.act(&ids[1], &rev, KbAction::Retire, "", 3)
            .await
            .unwrap();
        kb.act(&ids[2], &agent, KbAction::Revise, "", 3)
            .await
            .unwrap();
        kb.act(&ids[4], &rev, KbAction::Retire, "", 3)
            .await
            .unwrap();
        kb.act(&ids[4], &agent, KbAction::Revise, "", 4)
            .await
            .unwrap();
        kb.act(&ids[4], &agent, KbAction::Submit, "", 5)
            .await
            .unwrap();
        kb.act(&ids[4], &rev, KbAction::Approve, "", 6)
            .await
            .unwrap();
        let queries = [
            "社保卡补办怎么办理",
            "社保",
            "路灯坏了",
            "拖欠工资",
            "公交",
            "办理",
            "身份证原件",
            "噪声污染投诉",
            "12345热线",
            "火箭发射",
            "问答7",
        ];
        for q in queries {
            let ours = kb.search(q, 50).await.unwrap();
            let fts = kb.fts5_search(q, 50).await.unwrap();
            assert_eq!(
                ours.iter().map(|h| &h.id).collect::<Vec<_>>(),
                fts.iter().map(|h| &h.id).collect::<Vec<_>>(),
                "order for {q}"
            );
            for (o, f) in ours.iter().zip(&fts) {
                assert!(
                    (o.score - f.score).abs() <= 1e-9 * f.score.abs().max(1.0),
                    "{q}: {} vs {}",
                    o.score,
                    f.score
                );
                assert_eq!(o.snippet, f.snippet, "snippet for {q}");
                assert_eq!((&o.title, &o.category_code), (&f.title, &f.category_code));
            }
        }
        assert!(!kb
            .search("路灯", 50)
            .await
            .unwrap()
            .iter()
            .any(|h| h.id == ids[1]));
        assert!(kb
            .search("停水通知", 50)
            .await
            .unwrap()
            .iter()
            .any(|h| h.id == ids[4]));
        assert_eq!(kb.search("社保", 5).await.unwrap().len(), 5);
    }
}
