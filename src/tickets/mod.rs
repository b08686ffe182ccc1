//! The work-order (工单) core: model, lifecycle, SLA and working calendar, dispatch, knowledge base.
//!
//! Sans-IO cores ([`lifecycle`], [`sla`], [`calendar`]) hold the rules; [`store`] persists them
//! over sqlx (SQLite and PostgreSQL) and [`api`] serves them over HTTP.

pub mod api;
pub mod appeal;
pub mod appeal_store;
pub mod attachments;
pub mod calendar;
pub mod catalogue;
pub mod dispatch;
pub mod kb;
pub mod kb_index;
pub mod lifecycle;
pub mod model;
pub mod problem;
pub mod rating_page;
pub mod satisfaction;
pub mod screen_pop;
pub mod sla;
pub mod sms;
pub mod store;
pub mod worker;
