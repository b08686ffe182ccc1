//! HTTP routes of the ticket core, to mount under `/api/v1`: tickets (create with an
//! idempotency key, list, read, edit, act, history, dispatch suggestions), screen pop,
//! catalogues, calendar, appeals, knowledge base and synonyms, the satisfaction link (JSON, or an
//! HTML page for a phone browser), and the OpenAPI document. Errors are problem+json (RFC 9457),
//! except on the satisfaction page a citizen opens, which answers in HTML.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::appeal::{AppealAction, AppealInput};
use super::appeal_store::AppealFilter;
use super::attachments::{AttachmentConfig, UploadError};
use super::catalogue;
use super::kb::{ArticleInput, KbAction, KnowledgeBase, SynonymGroup};
use super::lifecycle::Command;
use super::problem::Problem;
use super::rating_page::{self, RatingForm};
use super::satisfaction::{LinkSigner, Rating};
use super::screen_pop::AnsweredCall;
use super::store::{CreateTicket, EditTicket, ListFilter, TicketError, TicketStore};
use crate::store::now_ms;
use crate::web::auth::{Auth, AuthUser};

/// The OpenAPI 3.1 document of these routes and the auth routes.
pub const OPENAPI: &str = include_str!("openapi.json");

#[derive(Clone)]
pub struct ApiState {
    pub store: TicketStore,
    pub auth: Auth,
    /// Signs the satisfaction links that SMS revisits carry.
    pub links: LinkSigner,
    pub files: AttachmentConfig,
    /// The knowledge base: clones share its search index, so every route keeps it in step.
    pub kb: KnowledgeBase,
}

impl ApiState {
    /// State with a random link secret and attachments under `data/attachments`.
    pub fn new(store: TicketStore, auth: Auth) -> ApiState {
        ApiState {
            kb: KnowledgeBase::new(store.db.clone()),
            store,
            auth,
            links: LinkSigner::random(),
            files: AttachmentConfig::default(),
        }
    }
}

impl FromRef<ApiState> for Auth {
    fn from_ref(s: &ApiState) -> Auth {
        s.auth.clone()
    }
}

impl From<TicketError> for Problem {
    fn from(e: TicketError) -> Problem {
        match e {
            TicketError::NotFound => Problem::not_found("no such ticket"),
            TicketError::Refused(r) => r.into(),
            TicketError::Busy => Problem::conflict("busy", "the ticket changed meanwhile; retry"),
            TicketError::Corrupt(e) => Problem::internal(e),
            TicketError::Db(e) => Problem::internal(e),
        }
    }
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, Problem> {
    b.map(|Json(v)| v).map_err(Problem::from)
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    q.map(|Query(v)| v)
        .map_err(|e| Problem::bad_request(e.body_text()))
}

fn db_err(e: sqlx::Error) -> Problem {
    Problem::internal(e)
}

async fn create(
    State(s): State<ApiState>,
    who: AuthUser,
    headers: HeaderMap,
    b: Result<Json<CreateTicket>, JsonRejection>,
) -> Result<Response, Problem> {
    let input = body(b)?;
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| Problem::bad_request("Idempotency-Key must be visible ASCII"))?
                .to_string(),
        ),
        None => None,
    };
    let (view, created) = s
        .store
        .create(&who.actor(), input, key.as_deref(), now_ms())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        [(
            axum::http::header::LOCATION,
            format!("/api/v1/tickets/{}", view.id),
        )],
        Json(view),
    )
        .into_response())
}

async fn list(
    State(s): State<ApiState>,
    who: AuthUser,
    q: Result<Query<ListFilter>, QueryRejection>,
) -> Result<Response, Problem> {
    let f = query(q)?;
    Ok(Json(s.store.list(&who.actor(), &f, now_ms()).await?).into_response())
}

async fn read(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(Json(s.store.get(&id, Some(&who.actor()), now_ms()).await?).into_response())
}

async fn edit(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(id): Path<String>,
    b: Result<Json<EditTicket>, JsonRejection>,
) -> Result<Response, Problem> {
    let e = body(b)?;
    Ok(Json(s.store.edit(&id, &who.actor(), e, now_ms()).await?).into_response())
}

async fn act(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(id): Path<String>,
    b: Result<Json<Command>, JsonRejection>,
) -> Result<Response, Problem> {
    let cmd = body(b)?;
    let actor = who.actor();
    let now = now_ms();
    // Reading first gives 404 for tickets outside the user's area instead of revealing them.
    s.store.get(&id, Some(&actor), now).await?;
    Ok(Json(s.store.act(&id, &actor, cmd, now).await?).into_response())
}

async fn history(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(Json(s.store.history(&id, &who.actor(), now_ms()).await?).into_response())
}

async fn suggestions(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let t = s.store.get(&id, Some(&who.actor()), now_ms()).await?;
    let text = format!("{} {}", t.title, t.content);
    let list = super::dispatch::suggest(&s.store.db, &t.category_code, &t.region_code, &text)
        .await
        .map_err(db_err)?;
    Ok(Json(list).into_response())
}

async fn screen_pop(
    State(s): State<ApiState>,
    who: AuthUser,
    b: Result<Json<AnsweredCall>, JsonRejection>,
) -> Result<Response, Problem> {
    let call = body(b)?;
    let pop = s.store.screen_pop(&who.actor(), &call, now_ms()).await?;
    let status = if pop.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(pop)).into_response())
}

#[derive(Deserialize)]
struct ParentQuery {
    parent: Option<String>,
}

async fn regions(
    State(s): State<ApiState>,
    _who: AuthUser,
    q: Result<Query<ParentQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let q = query(q)?;
    Ok(Json(
        catalogue::regions(&s.store.db, q.parent.as_deref())
            .await
            .map_err(db_err)?,
    )
    .into_response())
}

async fn categories(
    State(s): State<ApiState>,
    _who: AuthUser,
    q: Result<Query<ParentQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let q = query(q)?;
    Ok(Json(
        catalogue::categories(&s.store.db, q.parent.as_deref())
            .await
            .map_err(db_err)?,
    )
    .into_response())
}

async fn departments(State(s): State<ApiState>, _who: AuthUser) -> Result<Response, Problem> {
    Ok(Json(catalogue::departments(&s.store.db).await.map_err(db_err)?).into_response())
}

async fn calendar(
    State(s): State<ApiState>,
    _who: AuthUser,
    Path(year): Path<i32>,
) -> Result<Response, Problem> {
    let cal = &s.store.rules.calendar;
    if !(1970..=2200).contains(&year) {
        return Err(Problem::invalid("year", "year out of range"));
    }
    let start = chrono::NaiveDate::from_ymd_opt(year, 1, 1)
        .ok_or_else(|| Problem::invalid("year", "bad year"))?;
    let mut working_days = 0;
    let mut d = start;
    while d.year() == year {
        working_days += i32::from(cal.is_working_day(d));
        match d.succ_opt() {
            Some(n) => d = n,
            None => break,
        }
    }
    Ok(Json(serde_json::json!({
        "year": year,
        "loaded": cal.years().contains(&year),
        "holidays": cal.holidays(year),
        "working_days": working_days,
    }))
    .into_response())
}

use chrono::Datelike;

#[derive(Deserialize)]
struct UploadQuery {
    name: String,
}

async fn upload(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(id): Path<String>,
    q: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, Problem> {
    let q = query(q)?;
    let too_large = || {
        Problem::new(
            413,
            "too_large",
            format!("attachments are limited to {} bytes", s.files.max_bytes),
        )
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > s.files.max_bytes) {
        // Refuse before reading a byte.
        return Err(too_large());
    }
    let ctype = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let res = s
        .store
        .upload(
            &s.files,
            &id,
            &who.actor(),
            &q.name,
            &ctype,
            body.into_data_stream(),
            now_ms(),
        )
        .await;
    match res {
        Ok(a) => Ok((StatusCode::CREATED, Json(a)).into_response()),
        Err(UploadError::TooLarge(_)) => Err(too_large()),
        Err(UploadError::Ticket(e)) => Err(e.into()),
        Err(UploadError::Body(e)) => Err(Problem::bad_request(e)),
        Err(UploadError::Io(e)) => Err(Problem::internal(e)),
    }
}

async fn list_attachments(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(Json(s.store.attachments(&id, &who.actor(), now_ms()).await?).into_response())
}

async fn download(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let (att, path) = s.store.attachment_file(&id, &who.actor(), now_ms()).await?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(Problem::internal)?;
    // Stream in 64 KiB chunks; the file is never read whole.
    let stream = futures::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        percent_encode(&att.file_name)
    );
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, att.content_type.clone()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
            (
                axum::http::HeaderName::from_static("x-sha256"),
                att.sha256.clone(),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Whether the client asked for a page rather than JSON (a phone browser opening the SMS link).
fn wants_html(h: &HeaderMap) -> bool {
    h.get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (
        status,
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    for (k, v) in rating_page::HEADERS {
        r.headers_mut()
            .insert(k, axum::http::HeaderValue::from_static(v));
    }
    r
}

/// A refusal on the satisfaction path as the citizen's page.
fn html_problem(p: Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let code = if p.status == 404 {
        "not_found"
    } else {
        p.code.as_str()
    };
    html(
        status,
        rating_page::message_page("无法评价", rating_page::refusal_text(code)),
    )
}

async fn rating_page(
    State(s): State<ApiState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let page = match s.links.verify(&token, now_ms()) {
        Some(claims) => s.store.rating_page(&claims).await.map_err(Problem::from),
        None => Err(Problem::forbidden(
            "bad_link",
            "the link is invalid or expired",
        )),
    };
    if wants_html(&headers) {
        return Ok(match page {
            Ok(p) => html(StatusCode::OK, rating_page::form_page(&p, None)),
            Err(p) => html_problem(p),
        });
    }
    Ok(Json(page?).into_response())
}

/// A rating as JSON (the API) or as the HTML form's post (the page answers with a page).
async fn rate(
    State(s): State<ApiState>,
    Path(token): Path<String>,
    req: axum::extract::Request,
) -> Result<Response, Problem> {
    use axum::extract::FromRequest;
    let is_form = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let claims = s.links.verify(&token, now_ms());
    if !is_form {
        let claims = claims
            .ok_or_else(|| Problem::forbidden("bad_link", "the link is invalid or expired"))?;
        let rating = body(Json::<Rating>::from_request(req, &()).await)?;
        s.store.rate(&claims, &rating, now_ms()).await?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let Some(claims) = claims else {
        return Ok(html_problem(Problem::forbidden("bad_link", "bad link")));
    };
    let form = match axum::extract::Form::<RatingForm>::from_request(req, &()).await {
        Ok(axum::extract::Form(f)) => f,
        Err(_) => RatingForm::default(),
    };
    let rating = match form.rating() {
        Ok(r) => r,
        Err(msg) => {
            // Show the form again with what was wrong.
            return Ok(match s.store.rating_page(&claims).await {
                Ok(p) => html(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    rating_page::form_page(&p, Some(msg)),
                ),
                Err(e) => html_problem(e.into()),
            });
        }
    };
    Ok(match s.store.rate(&claims, &rating, now_ms()).await {
        Ok(()) => html(
            StatusCode::OK,
            rating_page::message_page("评价成功", "感谢您的评价！您的意见将用于改进我们的工作。"),
        ),
        Err(e) => html_problem(e.into()),
    })
}

async fn file_appeal(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(id): Path<String>,
    b: Result<Json<AppealInput>, JsonRejection>,
) -> Result<Response, Problem> {
    let input = body(b)?;
    let a = s
        .store
        .file_appeal(&id, &who.actor(), input, now_ms())
        .await?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

async fn ticket_appeals(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(Json(s.store.ticket_appeals(&id, &who.actor(), now_ms()).await?).into_response())
}

async fn list_appeals(
    State(s): State<ApiState>,
    who: AuthUser,
    q: Result<Query<AppealFilter>, QueryRejection>,
) -> Result<Response, Problem> {
    let f = query(q)?;
    Ok(Json(s.store.list_appeals(&who.actor(), &f).await?).into_response())
}

async fn act_appeal(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(id): Path<String>,
    b: Result<Json<AppealAction>, JsonRejection>,
) -> Result<Response, Problem> {
    let action = body(b)?;
    let a = s
        .store
        .act_appeal(&id, &who.actor(), action, now_ms())
        .await
        .map_err(|e| match e {
            TicketError::NotFound => Problem::not_found("no such appeal"),
            e => e.into(),
        })?;
    Ok(Json(a).into_response())
}

fn kb(s: &ApiState) -> &KnowledgeBase {
    &s.kb
}

async fn kb_create(
    State(s): State<ApiState>,
    who: AuthUser,
    b: Result<Json<ArticleInput>, JsonRejection>,
) -> Result<Response, Problem> {
    let input = body(b)?;
    Ok((
        StatusCode::CREATED,
        Json(kb(&s).create(&who.actor(), input, now_ms()).await?),
    )
        .into_response())
}

async fn kb_read(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(Json(kb(&s).get(&id, &who.actor()).await?).into_response())
}

async fn kb_edit(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(id): Path<String>,
    b: Result<Json<ArticleInput>, JsonRejection>,
) -> Result<Response, Problem> {
    let input = body(b)?;
    Ok(Json(kb(&s).edit(&id, &who.actor(), input, now_ms()).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KbStep {
    action: KbAction,
    #[serde(default)]
    opinion: String,
}

async fn kb_act(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(id): Path<String>,
    b: Result<Json<KbStep>, JsonRejection>,
) -> Result<Response, Problem> {
    let step = body(b)?;
    Ok(Json(
        kb(&s)
            .act(&id, &who.actor(), step.action, &step.opinion, now_ms())
            .await?,
    )
    .into_response())
}

async fn kb_history(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(Json(kb(&s).history(&id, &who.actor()).await?).into_response())
}

#[derive(Deserialize)]
struct SearchQuery {
    q: String,
    limit: Option<u32>,
}

async fn kb_search(
    State(s): State<ApiState>,
    _who: AuthUser,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let q = query(q)?;
    if q.q.chars().count() > 200 {
        return Err(Problem::invalid("q", "queries are at most 200 characters"));
    }
    Ok(Json(kb(&s).search(&q.q, q.limit.unwrap_or(10)).await?).into_response())
}

async fn kb_synonyms(State(s): State<ApiState>, _who: AuthUser) -> Result<Response, Problem> {
    Ok(Json(kb(&s).synonyms().await?).into_response())
}

async fn kb_set_synonyms(
    State(s): State<ApiState>,
    who: AuthUser,
    b: Result<Json<SynonymGroup>, JsonRejection>,
) -> Result<Response, Problem> {
    let g = body(b)?;
    Ok(Json(kb(&s).set_synonyms(&who.actor(), g).await?).into_response())
}

async fn kb_delete_synonyms(
    State(s): State<ApiState>,
    who: AuthUser,
    Path(main): Path<String>,
) -> Result<Response, Problem> {
    if kb(&s).delete_synonyms(&who.actor(), &main).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(Problem::not_found("no such synonym group"))
    }
}

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

/// The ticket routes with their state applied, to mount under `/api/v1`.
pub fn router(state: ApiState) -> Router<()> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/tickets", post(create).get(list))
        .route("/tickets/{id}", get(read).patch(edit))
        .route("/tickets/{id}/actions", post(act))
        .route("/tickets/{id}/history", get(history))
        .route("/tickets/{id}/suggestions", get(suggestions))
        .route("/screen-pop", post(screen_pop))
        .route("/regions", get(regions))
        .route("/categories", get(categories))
        .route("/departments", get(departments))
        .route("/calendar/{year}", get(calendar))
        .route(
            "/tickets/{id}/attachments",
            post(upload)
                .get(list_attachments)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/attachments/{id}", get(download))
        .route("/satisfaction/{token}", get(rating_page).post(rate))
        .route("/kb", post(kb_create))
        .route("/kb/search", get(kb_search))
        .route("/kb/synonyms", get(kb_synonyms).put(kb_set_synonyms))
        .route(
            "/kb/synonyms/{main}",
            axum::routing::delete(kb_delete_synonyms),
        )
        .route(
            "/tickets/{id}/appeals",
            post(file_appeal).get(ticket_appeals),
        )
        .route("/appeals", get(list_appeals))
        .route("/appeals/{id}/actions", post(act_appeal))
        .route("/kb/{id}", get(kb_read).patch(kb_edit))
        .route("/kb/{id}/actions", post(kb_act))
        .route("/kb/{id}/history", get(kb_history))
        .with_state(state)
}
