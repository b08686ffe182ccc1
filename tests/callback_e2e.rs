//! A callback promise is kept across a restart and dialled on the real server: the promise is in
//! the database before hotline starts (as a crash would leave it); when agent 1001 becomes ready the
//! ACD offers it, hotline rings the agent's phone first and then dials the citizen's number through
//! the carrier trunk; both hear each other; once the citizen has answered, the promise is stored as
//! kept.

mod common;

use std::time::Duration;

use common::audio::Tone;
use common::cti::{command, desktop, ws_until, ACD_CONSUMER_1001};
use common::phone::{self, bye, pick_up, rtp_socket};
use common::ua::{request, Ua};
use common::{Hotline, HotlineSetup};
use hotline::acd::event::{CallbackRecord, PersistOp};
use hotline::sip::message::SipMessage;
use serde_json::json;
use sqlx::Row;

const AGENT_HZ: f64 = 1000.0;
const CITIZEN_HZ: f64 = 1500.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persisted_callback_promise_is_dialled_after_a_restart_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite:{}", dir.path().join("hotline.db").display());
    {
        let db = hotline::store::Db::connect(&db_url).await.unwrap();
        db.migrate().await.unwrap();
        hotline::acd::store::write_batch(
            &db,
            &[PersistOp::CallbackSaved(CallbackRecord {
                call: "promised-1@carrier".into(),
                number: "013800138000".into(),
                group: "consumer".into(),
                priority: hotline::acd::queue::Priority::Normal,
                arrived_ms: 1_000,
                accepted_ms: 2_000,
                attempts: 0,
            })],
        )
        .await
        .unwrap();
        db.pool.close().await;
    }
    let citizen = Ua::new();
    let h = Hotline::start(HotlineSetup {
        profiles: common::carrier_and_agent_1001(citizen.addr, Some("12315")),
        acd: Some(ACD_CONSUMER_1001.into()),
        database_url: Some(db_url.clone()),
        ..HotlineSetup::default()
    });
    let agent_phone = Ua::new();
    agent_phone.register(h.sip, "1001", "s3cret");
    let mut ws = desktop(&h, "1001", "agent").await;
    command(&mut ws, 1, json!({"cmd":"login"})).await;
    command(&mut ws, 2, json!({"cmd":"set_ready"})).await;
    let ringing = ws_until(&mut ws, Duration::from_secs(10), |v| {
        v["event"]["event"] == "call_ringing"
    })
    .await;
    assert_eq!(ringing["event"]["callback"], true);
    assert_eq!(ringing["event"]["caller"], "013800138000");

    let agent_rtp = rtp_socket();
    let (_agent_inv, to_agent_side) = pick_up(&agent_phone, h.sip, "1001", &agent_rtp);
    let _agent = Tone::start(&agent_rtp, to_agent_side, AGENT_HZ);
    let citizen_rtp = rtp_socket();
    let (far_inv, to_citizen_side) = pick_up(&citizen, h.sip, "cit", &citizen_rtp);
    assert!(far_inv.request_uri_str().unwrap().contains("13800138000"));
    let _citizen = Tone::start(&citizen_rtp, to_citizen_side, CITIZEN_HZ);
    phone::hear_each_other(&agent_rtp, AGENT_HZ, &citizen_rtp, CITIZEN_HZ);

    // The promise is kept from the moment the citizen answered.
    let db = hotline::store::Db::connect(&db_url).await.unwrap();
    let mut kept = None;
    for _ in 0..50 {
        let row =
            sqlx::query("SELECT done_ms, outcome, agent_no FROM acd_callbacks WHERE call_id = $1")
                .bind("promised-1@carrier")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        let done: Option<i64> = row.try_get("done_ms").unwrap();
        if done.is_some() {
            kept = Some((
                row.try_get::<String, _>("outcome").unwrap(),
                row.try_get::<String, _>("agent_no").unwrap(),
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(kept, Some(("reached".into(), "1001".into())));

    // The citizen hangs up: the agent's phone is let go and the agent goes to wrap-up.
    bye(&citizen, h.sip, &far_inv, "cit");
    let (agent_bye, _) = agent_phone.expect("BYE to the agent", request("BYE"));
    agent_phone.send_msg(h.sip, &SipMessage::response_to(&agent_bye, 200, "OK", None));
    ws_until(&mut ws, Duration::from_secs(10), |v| {
        v["event"]["event"] == "agent_state" && v["event"]["state"]["state"] == "wrap_up"
    })
    .await;
    db.pool.close().await;
}
