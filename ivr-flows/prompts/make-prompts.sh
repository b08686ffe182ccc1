#!/usr/bin/env bash
# Makes the Mandarin prompt files of the shipped 12345 flows with espeak-ng (Debian:
# `apt-get install -y espeak-ng sox`). Output: 8 kHz mono 16-bit PCM WAV under zh-CN/,
# and 30 % slower copies under zh-CN/slow/ for the elderly-friendly branch (rate 0.7).
# The WAVs are committed: hotline itself never needs espeak-ng.
set -euo pipefail
cd "$(dirname "$0")"
out=zh-CN
mkdir -p "$out/say" "$out/slow/say"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name|text|slow   (slow=1: also make a slow copy)
prompts=$(cat <<'LIST'
welcome|您好，欢迎致电幺二三四五政务服务便民热线。|0
main_menu|政务服务咨询投诉请按1，社会保障请按2，医疗保障请按3，住房公积金请按4，企业服务专线请按5，查询工单办理进度请按6，老年人服务请按9，人工服务请按0。|0
invalid_key|您的输入有误，请重新输入。|1
you_chose|您选择的是|1
star_to_go_back|如需调整，请按星号键返回上一级。|1
label_general|政务服务咨询投诉|0
label_social|社会保障服务|1
label_medical|医疗保障服务|1
label_housing|住房公积金服务|0
label_enterprise|企业服务专线|0
label_pension|养老保险|0
label_employment|就业和失业保险|0
social_menu|养老保险请按1，就业和失业保险请按2，人工服务请按0，返回上一级请按星号键。|0
transfer_agent|正在为您转接人工服务，请稍候。|1
queue_fail|抱歉，当前坐席全忙，请您留言，我们会尽快回复。|1
ticket_prompt|请输入您的工单编号，以井号键结束。|0
ticket_number_is|您查询的工单编号是|0
ticket_status_accepted|该工单已受理，正在分派。|0
ticket_status_dispatched|该工单已派发至承办单位办理。|0
ticket_status_processing|该工单正在办理中。|0
ticket_status_closed|该工单已办结。|0
ticket_status_unknown|该工单正在处理中，详情请咨询人工服务。|0
deadline_is|办理期限为|0
ticket_not_found|未查询到该工单，请核对后重新输入。|0
lookup_error|系统繁忙，暂时无法查询。|0
ticket_after_menu|重新查询请按1，人工服务请按0，返回主菜单请按星号键。|0
after_hours|您好，现在是非工作时间。|0
after_hours_menu|留言请按1，预约工作时间回电请按2。|0
message_prompt|请在听到提示音后留言，留言完毕请按井号键或直接挂机。|1
message_thanks|您的留言已记录，我们将在工作时间尽快处理，感谢您的来电，再见。|1
callback_ok|已为您登记回电，我们将在工作时间回电，再见。|0
survey_prompt|请您对本次服务进行评价，非常满意请按5，满意请按4，基本满意请按3，不满意请按2，非常不满意请按1。|1
survey_thanks|感谢您的评价，再见。|1
goodbye|感谢您的来电，再见。|1
elderly_welcome|老人家您好，欢迎致电幺二三四五。|1
elderly_menu|查社保请按1，查医保请按2，找人工请按0。|1
queue_ahead|您前面还有|1
queue_people|位，请耐心等待。|1
queue_wait|预计等待约|1
queue_minutes|分钟。|1
refused|抱歉，您的来电暂时无法受理，再见。|0
please_wait|请稍候，正在为您处理。|1
supervisor_joins|您好，为更好解决您的问题，将由业务主管为您解答。|1
transfer_failed|抱歉，转接未成功，感谢您的来电，再见。|1
say/0|零|1
say/1|一|1
say/2|二|1
say/3|三|1
say/4|四|1
say/5|五|1
say/6|六|1
say/7|七|1
say/8|八|1
say/9|九|1
say/liang|两|1
say/shi|十|1
say/bai|百|1
say/qian|千|1
say/wan|万|1
say/yi|亿|1
say/x|叉|1
say/nian|年|1
say/yue|月|1
say/ri|日|1
LIST
)

make() { # speed text dest
  espeak-ng -v cmn -s "$1" -w "$tmp/p.wav" "$2"
  # Resample to telephone rate; -1 dB headroom so resampling does not clip.
  sox "$tmp/p.wav" -r 8000 -c 1 -b 16 -e signed-integer "$3" silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse gain -n -1
}

while IFS='|' read -r name text slow; do
  [ -n "$name" ] || continue
  make 185 "$text" "$out/$name.wav"
  if [ "$slow" = 1 ]; then
    make 130 "$text" "$out/slow/$name.wav"
  fi
done <<< "$prompts"
echo "made $(find "$out" -name '*.wav' | wc -l) prompt files in $out"

# Music while waiting in a queue: a soft C–F–G–C progression, 8 s, looped by the player.
chord() { # dest f1 f2 f3
  sox -n -r 8000 -c 1 -b 16 -e signed-integer "$1" synth 2 sine "$2" sine "$3" sine "$4" \
    channels 1 fade q 0.1 2 0.3 gain -n -18
}
chord "$tmp/c1.wav" 261.6 329.6 392.0
chord "$tmp/c2.wav" 349.2 440.0 523.3
chord "$tmp/c3.wav" 392.0 493.9 587.3
sox "$tmp/c1.wav" "$tmp/c2.wav" "$tmp/c3.wav" "$tmp/c1.wav" "$out/queue_music.wav"

# The beep before a voice message: 1000 Hz, 0.25 s (China's tone plan).
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$out/beep.wav" synth 0.25 sine 1000 fade q 0.01 0.25 0.01 gain -n -6
