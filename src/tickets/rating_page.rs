//! The HTML side of the signed satisfaction link: what a citizen sees on a phone after tapping
//! the link in the revisit SMS (source B1 L3837: an H5 page with satisfaction and comments).
//!
//! One small page, no script, styles inline: the form posts back to the same URL as
//! `application/x-www-form-urlencoded`, and the answer is another page. Everything shown is
//! escaped; no personal data is on it (number, title and status only, as in [`RatingPage`]).

use serde::Deserialize;

use super::model::Resolution;
use super::satisfaction::{Rating, RatingPage};

/// Headers every page carries: the link's token is in the URL, so it must not leak through a
/// Referer or a cache, and nothing but this page's own form may run.
pub const HEADERS: [(&str, &str); 4] = [
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
];

/// The form as posted; every field a string so a bad value gets a page, not a rejection.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct RatingForm {
    pub agent_service: String,
    pub seat_service: String,
    pub result: String,
    pub resolution: String,
    pub comment: String,
}

impl RatingForm {
    /// The rating, or the message to show when a choice is missing.
    pub fn rating(&self) -> Result<Rating, &'static str> {
        let score = |v: &str| v.trim().parse::<u8>().ok().filter(|n| (1..=5).contains(n));
        let (Some(agent_service), Some(seat_service), Some(result)) = (
            score(&self.agent_service),
            score(&self.seat_service),
            score(&self.result),
        ) else {
            return Err("请为每一项选择 1 到 5 星。");
        };
        let resolution = match self.resolution.as_str() {
            "resolved" => Resolution::Resolved,
            "partly" => Resolution::Partly,
            "unresolved" => Resolution::Unresolved,
            _ => return Err("请选择问题是否已解决。"),
        };
        if self.comment.chars().count() > 1000 {
            return Err("意见建议不能超过 1000 字。");
        }
        Ok(Rating {
            agent_service,
            seat_service,
            result,
            resolution,
            comment: self.comment.trim().to_string(),
        })
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;margin:0;background:#f4f6f8;color:#222}\
main{max-width:34rem;margin:0 auto;padding:1rem}h1{font-size:1.25rem;color:#c0392b}\
.card{background:#fff;border-radius:.5rem;padding:1rem;margin:.75rem 0}\
fieldset{border:0;padding:0;margin:0 0 1rem}legend{font-weight:600;margin-bottom:.4rem}\
.stars{display:flex;gap:.3rem;flex-wrap:wrap}.stars label,.opts label{border:1px solid #ccc;border-radius:.4rem;padding:.45rem .7rem}\
.opts{display:flex;gap:.4rem;flex-wrap:wrap}textarea{width:100%;min-height:5rem;box-sizing:border-box}\
button{width:100%;padding:.8rem;font-size:1.1rem;background:#c0392b;color:#fff;border:0;border-radius:.4rem}\
.muted{color:#666;font-size:.9rem}.error{color:#c0392b;font-weight:600}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head><body><main><h1>12345 热线满意度评价</h1>{body}</main></body></html>",
        escape(title)
    )
}

fn stars(name: &str, legend: &str) -> String {
    let labels = ["非常不满意", "不满意", "一般", "满意", "非常满意"];
    let mut s = format!("<fieldset><legend>{legend}</legend><div class=\"stars\">");
    for (i, l) in labels.iter().enumerate() {
        let n = i + 1;
        s.push_str(&format!(
            "<label><input type=\"radio\" name=\"{name}\" value=\"{n}\" required> {n}★ <span class=\"muted\">{l}</span></label>"
        ));
    }
    s.push_str("</div></fieldset>");
    s
}

/// The rating form, or a note when the ticket was rated already or can no longer be rated.
/// `error` is shown above the form after a rejected post.
pub fn form_page(p: &RatingPage, error: Option<&str>) -> String {
    let head = format!(
        "<div class=\"card\"><div class=\"muted\">工单编号 {}</div><div>{}</div></div>",
        escape(&p.number),
        escape(&p.title)
    );
    if p.already_rated {
        return page(
            "已评价",
            &format!("{head}<div class=\"card\">您已评价过此工单，感谢您的反馈！</div>"),
        );
    }
    if p.status != "closed" {
        return page(
            "无法评价",
            &format!("{head}<div class=\"card\">此工单当前不在待评价状态，评价通道已关闭。</div>"),
        );
    }
    let err = error
        .map(|e| format!("<p class=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    let resolution = "<fieldset><legend>您反映的问题是否已解决？</legend><div class=\"opts\">\
<label><input type=\"radio\" name=\"resolution\" value=\"resolved\" required> 已解决</label>\
<label><input type=\"radio\" name=\"resolution\" value=\"partly\"> 部分解决</label>\
<label><input type=\"radio\" name=\"resolution\" value=\"unresolved\"> 未解决</label></div></fieldset>";
    let body = format!(
        "{head}<form method=\"post\" class=\"card\">{err}{}{}{}{resolution}\
<fieldset><legend>意见建议（选填）</legend><textarea name=\"comment\" maxlength=\"1000\"></textarea></fieldset>\
<button type=\"submit\">提交评价</button></form>",
        stars("agent_service", "话务员服务"),
        stars("seat_service", "人工坐席服务"),
        stars("result", "工单办理结果"),
    );
    page("满意度评价", &body)
}

/// The page after a post: thanks, or why it failed.
pub fn message_page(title: &str, text: &str) -> String {
    page(
        title,
        &format!("<div class=\"card\">{}</div>", escape(text)),
    )
}

/// What to tell the citizen for a refusal code of the rating path.
pub fn refusal_text(code: &str) -> &'static str {
    match code {
        "bad_link" => "评价链接无效或已过期。",
        "already_rated" => "此工单已评价或已不在待评价状态，感谢您的反馈。",
        "stale_link" => "此链接属于此前的办理，已失效；新的办理结束后会再发评价短信。",
        "rating" => "请为每一项选择 1 到 5 星。",
        "not_found" => "工单不存在。",
        _ => "系统繁忙，请稍后再试。",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> RatingPage {
        RatingPage {
            number: "20260302-0001".into(),
            title: "路灯<不亮>&\"坏\"".into(),
            status: "closed".into(),
            already_rated: false,
        }
    }

    #[test]
    fn the_form_has_three_star_groups_and_escapes_the_title() {
        let html = form_page(&open(), None);
        for name in ["agent_service", "seat_service", "result"] {
            for n in 1..=5 {
                assert!(html.contains(&format!("name=\"{name}\" value=\"{n}\"")));
            }
        }
        assert!(html.contains("name=\"resolution\" value=\"partly\""));
        assert!(html.contains("<meta name=\"viewport\""));
        assert!(html.contains("路灯&lt;不亮&gt;&amp;&quot;坏&quot;"));
        assert!(!html.contains("<不亮>"));
        let err = form_page(&open(), Some("<b>x</b>"));
        assert!(err.contains("&lt;b&gt;x&lt;/b&gt;"));
        let rated = form_page(
            &RatingPage {
                already_rated: true,
                ..open()
            },
            None,
        );
        assert!(rated.contains("您已评价过") && !rated.contains("<form"));
        let gone = form_page(
            &RatingPage {
                status: "archived".into(),
                ..open()
            },
            None,
        );
        assert!(gone.contains("评价通道已关闭") && !gone.contains("<form"));
    }

    #[test]
    fn the_posted_form_becomes_a_rating_or_a_message() {
        let f = RatingForm {
            agent_service: "5".into(),
            seat_service: "4".into(),
            result: "2".into(),
            resolution: "partly".into(),
            comment: " 还行 ".into(),
        };
        let r = f.rating().unwrap();
        assert_eq!(
            (r.agent_service, r.seat_service, r.result, r.resolution),
            (5, 4, 2, Resolution::Partly)
        );
        assert_eq!(r.comment, "还行");
        for bad in [
            RatingForm {
                result: "6".into(),
                ..f.clone()
            },
            RatingForm {
                seat_service: String::new(),
                ..f.clone()
            },
            RatingForm {
                agent_service: "x".into(),
                ..f.clone()
            },
        ] {
            assert_eq!(bad.rating().unwrap_err(), "请为每一项选择 1 到 5 星。");
        }
        let no_res = RatingForm {
            resolution: "maybe".into(),
            ..f.clone()
        };
        assert!(no_res.rating().unwrap_err().contains("是否已解决"));
        let long = RatingForm {
            comment: "长".repeat(1001),
            ..f
        };
        assert!(long.rating().is_err());
    }
}
