#!/usr/bin/env python3
"""Regenerate the SIP message corpus (*.sip, CRLF line ends, exact bytes).

Cases named after RFC 4475 are written from that RFC's text (section noted); `real-*` cases are
the realistic inputs of shared/notes/sip-parser-evaluation.md. Run: python3 tests/corpus/gen.py
The expected outcome of every case is asserted in tests/sip_corpus.rs.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SDP150 = ("v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.4\nt=0 0\n"
          "m=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n")
SDP150B = SDP150.replace("192.0.2.3", "192.0.2.1").replace("192.0.2.4", "192.0.2.1")


def crlf(s):
    return s.replace("\n", "\r\n").encode("latin-1")


def msg(head, body=b""):
    """head: text with LF line ends and no blank line; body: bytes appended after CRLF CRLF."""
    if isinstance(body, str):
        body = crlf(body)
    return crlf(head.rstrip("\n") + "\n\n") + body


CASES = {}

# ---- RFC 4475 §3.1.1 valid messages ----
CASES["wsinv"] = msg("""INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33""", SDP150)

CASES["intmeth"] = msg(
    "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    ":&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\n"
    "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n"
    "To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\n"
    "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%="
    "\"\xd1\x80\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\xd0\xb0\xd1\x8e\xd1\x89\xd0\xb8\xd0\xb9\";tag=_token~1'+`*%!-.\n"
    "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n"
    "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n"
    "Max-Forwards: 255\n"
    "extensionHeader-!.%*+_`'~:\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb\n"
    "Content-Length: 0")

CASES["esc01"] = msg("""INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 150""", SDP150B)

CASES["escnull"] = msg("""REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0""")

CASES["esc02"] = msg("""RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0""")

CASES["lwsdisp"] = msg("""OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0""")

_names = ["Via", "v", "V", "Via", "ViA", "VIa", "VIA", "via", "viA", "vIa", "vIA", "V : ", "v : ", "V  :", "v  :",
          "Via :", "Via  :"]
_vias = []
for i, n in zip(range(33, 16, -1), _names):
    sep = " " if n.endswith(":") or n.endswith(": ") else ": "
    _vias.append(f"{n.rstrip()}{sep if not n.rstrip().endswith(':') else ' '}SIP/2.0/TCP sip{i}.example.com")
for i in range(16, 0, -1):
    _vias.append(f"Via: SIP/2.0/TCP sip{i}.example.com")
LONG = "long" * 20
CASES["longreq"] = msg(
    "INVITE sip:user@example.com SIP/2.0\n"
    "To: \"I have a user name of " + "extreme" * 10 + " proportion\"<sip:user@example.com:6000;unknownparam1=very"
    + LONG + "value;longparam" + "name" * 25 + "=shortvalue;very" + LONG + "longlonglonglongParameterNameWithNoValue>\n"
    "F: sip:" + "amazinglylongcallername" * 5 + "@example.net;tag=" + "1298" + "2982" * 38 + "424"
    + ";unknownheaderparam" + "name" * 20 + "=unknowheaderparam" + "value" * 15
    + ";unknownValuelessparam" + "nameparam" * 10 + "name\n"
    "Call-ID: longreq.one" + "really" * 20 + "longcallid\n"
    "CSeq: 3882340 INVITE\n"
    "Unknown-" + "LongLong" * 10 + "-Name: unknown-" + LONG + "-value; unknown-" + LONG + "-parameter-name = unknown-"
    + LONG + "-parameter-value\n"
    + "\n".join(_vias) + "\n"
    "Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very" + "long" * 50 + "branchvalue\n"
    "Max-Forwards: 70\n"
    "Contact: <sip:" + "amazinglylongcallername" * 5 + "@host5.example.net>\n"
    "Content-Type: application/sdp\n"
    "l: 150", SDP150B)

CASES["dblreq"] = msg("""REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0""", msg("""INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 150""", SDP150.replace("192.0.2.3", "192.0.2.15").replace("192.0.2.4", "192.0.2.15")))

CASES["semiuri"] = msg("""OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0""")

CASES["transports"] = msg("""OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0""")

# §3.1.1.11: multipart body with a binary (non-UTF-8, CR/LF/NUL-bearing) part.
_bin = bytes(range(256)) + b"\r\n\r\n\x00\x00\xff\xfe"
_mp = (b"--boundary42\r\nContent-Type: text/plain\r\n\r\nsigned text\r\n--boundary42\r\n"
       b"Content-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: binary\r\n\r\n"
       + _bin + b"\r\n--boundary42--\r\n")
CASES["mpart01"] = msg(f"""MESSAGE sip:kumiko@example.org SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport
Max-Forwards: 70
Route: <sip:127.0.0.1:5080>
Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuPBh2Q4LnK1IJjKE8hBz
Contact: <sip:fluffy@127.0.0.1:5070>
To: <sip:kumiko@example.org>
From: <sip:fluffy@example.com>;tag=2fb0dcc9
Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..
CSeq: 1 MESSAGE
Content-Transfer-Encoding: binary
Content-Type: multipart/mixed;boundary=boundary42
Date: Sat, 24 Sep 2005 20:50:15 GMT
Content-Length: {len(_mp)}""", _mp)

CASES["unreason"] = msg(
    "SIP/2.0 200 = 2**3 * 5**2 \xd0\xbd\xd0\xbe \xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd0\xbd\xd0"
    "\xbe\xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd1\x82\xd1\x8c - \xd0\xbf\xd1\x80\xd0\xbe\xd1\x81"
    "\xd1\x82\xd0\xbe\xd0\xb5\n"
    "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\n"
    "Call-ID: unreason.1234ksdfak3j2erwedfsASdf\n"
    "CSeq: 35 INVITE\n"
    "From: sip:user@example.com;tag=11141343\n"
    "To: sip:user@example.edu;tag=2229\n"
    "Content-Length: 154\n"
    "Content-Type: application/sdp\n"
    "Contact: <sip:user@host198.example.com>",
    SDP150.replace("o=mhandley 29739 7272939 IN IP4 192.0.2.3", "o=mhandley 29739 7272939 IN IP4 192.0.2.198")
    .replace("c=IN IP4 192.0.2.4", "c=IN IP4 192.0.2.198"))

CASES["noreason"] = msg("""SIP/2.0 100 \nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>""")

# ---- RFC 4475 §3.1.2 invalid messages ----
CASES["badinv01"] = msg("""INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;,,;;
Content-Length: 152
Content-Type: application/sdp""", SDP150.replace("192.0.2.3", "192.0.2.15").replace("192.0.2.4", "192.0.2.15") + "\n\n")

CASES["clerr"] = msg("""INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999""", SDP150.replace("192.0.2.3", "192.0.2.155").replace("192.0.2.4", "192.0.2.155"))

CASES["ncl"] = msg("""INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Contact: <sip:caller@example53.example.net>
Content-Type: application/sdp
Content-Length: -999""", SDP150.replace("192.0.2.3", "192.0.2.53").replace("192.0.2.4", "192.0.2.53"))

CASES["scalar02"] = msg("""REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0""")

CASES["scalarlg"] = msg("""SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
Content-Length: 0""")

CASES["quotbal"] = msg("""INVITE sip:user@example.com SIP/2.0
To: "Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Type: application/sdp
Content-Length: 150""", SDP150.replace("192.0.2.3", "192.0.2.15").replace("192.0.2.4", "192.0.2.15"))

CASES["ltgtruri"] = msg("""INVITE <sip:user@example.com> SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: ltgtruri.1@192.0.2.5
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: 150""", SDP150.replace("192.0.2.3", "192.0.2.5").replace("192.0.2.4", "192.0.2.5"))

CASES["lwsruri"] = msg("""INVITE sip:user@example.com; lr SIP/2.0
To: sip:user@example.com;tag=3xfe-9921883-z9f
From: sip:caller@example.net;tag=231413434
Max-Forwards: 5
Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423
CSeq: 2130706432 INVITE
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
Content-Length: 150""", SDP150B)

CASES["lwsstart"] = msg("""INVITE  sip:user@example.com  SIP/2.0
Max-Forwards: 8
To: sip:user@example.com
From: sip:caller@example.net;tag=8814
Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com
CSeq: 1893884 INVITE
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
Content-Length: 150""", SDP150B)

CASES["trws"] = msg("""OPTIONS sip:remote-target@example.com SIP/2.0  
Via: SIP/2.0/TCP host1.examle.com;branch=z9hG4bK299342093
To: <sip:remote-target@example.com>
From: <sip:local-resource@example.com>;tag=329429089
Call-ID: trws.oicu34958239neffasdhr2345r
Accept: application/sdp
CSeq: 238923 OPTIONS
Max-Forwards: 70
Content-Length: 0""")

CASES["escruri"] = msg("""INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=341518
Max-Forwards: 7
Contact: <sip:caller@host39923.example.net>
Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5
CSeq: 149209342 INVITE
Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw
Content-Type: application/sdp
Content-Length: 150""", SDP150B)

CASES["baddate"] = msg("""INVITE sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=2234923
Max-Forwards: 70
Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234
CSeq: 1392934 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
Date: Fri, 01 Jan 2010 16:00:00 EST
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: 150""", SDP150B)

CASES["regbadct"] = msg("""REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E
l: 0""")

CASES["badaspec"] = msg("""OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423
To: "Watson, Thomas" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0""")

CASES["baddn"] = msg("""OPTIONS sip:t.watson@example.org SIP/2.0
Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards:      70
From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To:      Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq:    3923239 OPTIONS
l: 0""")

CASES["badvers"] = msg("""OPTIONS sip:t.watson@example.org SIP/7.0
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards:     70
From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To:      T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq:    1 OPTIONS
l: 0""")

CASES["mismatch01"] = msg("""OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.dj0234sxdfl3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
l: 0""")

CASES["mismatch02"] = msg("""NEWMETHOD sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch02.dj0234sxdfl3
CSeq: 8 INVITE
Contact: <sip:caller@host.example.net>
Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw
Content-Type: application/sdp
l: 138""", crlf(SDP150B)[:138])

CASES["bigcode"] = msg("""SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>""")

# ---- RFC 4475 §3.3 application-level (parser must accept, except where noted) ----
CASES["badbranch"] = msg("""OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK
Accept: application/sdp
Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n
CSeq: 8 OPTIONS
l: 0""")

CASES["insuf"] = msg("""INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: 150""", SDP150.replace("192.0.2.3", "192.0.2.95").replace("192.0.2.4", "192.0.2.95"))

CASES["unkscm"] = msg("""OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0""")

CASES["novelsc"] = msg("""OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: novelsc.asdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0""")

CASES["unksm2"] = msg("""REGISTER sip:example.com SIP/2.0
To: isbn:2983792873
From: <http://www.example.com>;tag=3234233
Call-ID: unksm2.daksdj@hyphenated-host.example.com
CSeq: 234902 REGISTER
Max-Forwards: 70
Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
Contact: <name:John_Smith>
l: 0""")

CASES["bext01"] = msg("""OPTIONS sip:user@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.net;tag=242etr
Max-Forwards: 6
Call-ID: bext01.0ha0isndaksdj
Require: nothingSupportsThis, nothingSupportsThisEither
Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis
CSeq: 8 OPTIONS
Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw
Content-Length: 0""")

CASES["multi01"] = msg("""INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
Content-Type: application/sdp
l: 154
Call-ID: multi01.98asdh@192.0.2.3
Max-Forwards: 5""", SDP150.replace("192.0.2.3", "192.0.2.25").replace("192.0.2.4", "192.0.2.25"))

CASES["mcl01"] = msg("""OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: sip:user@example.com
From: sip:other@example.net;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain""", "There's no way to know how many octets are supposed to be here.\n")

CASES["bcast"] = msg("""SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23
Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 0
Contact: <sip:user@host28.example.com>""")

CASES["zeromf"] = msg("""OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas
CSeq: 39234321 OPTIONS
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i
Max-Forwards: 0
Content-Length: 0""")

CASES["cparam01"] = msg("""REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe
To: sip:watson@example.com
Call-ID: cparam01.70710@saturn.example.com
CSeq: 2 REGISTER
Contact: sip:+19725552222@gw1.example.net;unknownparam
l: 0""")

CASES["cparam02"] = msg("""REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=838293
To: sip:watson@example.com
Call-ID: cparam02.70710@saturn.example.com
CSeq: 3 REGISTER
Contact: <sip:+19725552222@gw1.example.net;unknownparam>
l: 0""")

CASES["regescrt"] = msg("""REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=8
Max-Forwards: 70
Call-ID: regescrt.k345asrl3fdbv@192.0.2.1
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>
L:0""")

CASES["inv2543"] = msg("""INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Type: application/sdp""", "v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.5\ns=-\nc=IN IP4 192.0.2.5\nt=0 0\nm=audio 49217 RTP/AVP 0\n")

# ---- realistic inputs from the evaluation note ----
OPT = """OPTIONS sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP pc.example.com:5060;branch=z9hG4bK1
Max-Forwards: 70
From: Alice <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: opt-1@pc.example.com
CSeq: 1 OPTIONS
Content-Length: 0"""


def opt(old, new):
    assert old in OPT, old
    return msg(OPT.replace(old, new, 1))


CASES["real-compact"] = msg("""OPTIONS sip:bob@example.com SIP/2.0
v: SIP/2.0/UDP pc.example.com:5060;branch=z9hG4bK1
Max-Forwards: 70
f: Alice <sip:alice@example.com>;tag=a1
t: <sip:bob@example.com>
i: opt-1@pc.example.com
CSeq: 1 OPTIONS
m: <sip:alice@pc.example.com>
c: text/plain
l: 2""", b"hi")
CASES["real-folded-via"] = opt("Via: SIP/2.0/UDP pc.example.com:5060;branch=z9hG4bK1",
                               "Via: SIP/2.0/UDP pc.example.com:5060\n  ;branch=z9hG4bK1")
CASES["real-hcolon-space"] = opt("Via: SIP", "Via : SIP")
CASES["real-semi-space"] = opt(":5060;branch=z9hG4bK1", ":5060 ;branch=z9hG4bK1")
CASES["real-via-list"] = opt(";branch=z9hG4bK1", ";branch=z9hG4bK1, SIP/2.0/UDP b.example.com;branch=z9hG4bK2")
CASES["real-ipv6-ruri"] = opt("OPTIONS sip:bob@example.com", "OPTIONS sip:bob@[2001:db8::1]:5060")
CASES["real-ipv6-hosts"] = msg(OPT.replace("pc.example.com:5060", "[2001:db8::1]:5060")
                               .replace("Content-Length: 0", "Contact: <sip:a@[2001:db8::10]>\nContent-Length: 0")
                               .replace("<sip:alice@example.com>", "<sip:a@[2001:db8::1]>"))
CASES["real-received-v6-rport"] = opt(";branch=z9hG4bK1", ";branch=z9hG4bK1;received=2001:db8::99;rport")
CASES["real-tel-ruri"] = opt("OPTIONS sip:bob@example.com", "OPTIONS tel:+15551234567")
CASES["real-urn-ruri"] = opt("OPTIONS sip:bob@example.com", "OPTIONS urn:service:sos")
CASES["real-contacts"] = opt("Content-Length: 0", "Contact: <sip:a@h>;expires=60;q=0.5, <sip:b@h2>\nContent-Length: 0")
CASES["real-gruu-contact"] = opt(
    "Content-Length: 0",
    "Contact: <sips:a@h>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1\nContent-Length: 0")
CASES["real-digest-register"] = msg("""REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP pc.example.com:5060;branch=z9hG4bK7
Max-Forwards: 70
From: <sip:1001@example.com>;tag=r1
To: <sip:1001@example.com>
Call-ID: reg-1@pc.example.com
CSeq: 2 REGISTER
Contact: <sip:1001@pc.example.com>;expires=3600
Authorization: Digest username="1001", realm="example.com", nonce="abc", uri="sip:example.com", response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="xyz", qop=auth, nc=00000001
Content-Length: 0""")
CASES["real-401-auth-int"] = msg("""SIP/2.0 401 Unauthorized
Via: SIP/2.0/UDP pc.example.com:5060;branch=z9hG4bK7
From: <sip:1001@example.com>;tag=r1
To: <sip:1001@example.com>;tag=s1
Call-ID: reg-1@pc.example.com
CSeq: 2 REGISTER
WWW-Authenticate: Digest realm="example.com", nonce="n1", qop="auth,auth-int", algorithm=SHA-256
Proxy-Authenticate: Digest realm="example.com", nonce="n2", algorithm=SHA-256
Content-Length: 0""")
CASES["real-latin1-display"] = opt("From: Alice <", "From: \"J\xe9r\xf4me\" <")
CASES["real-lowercase-method"] = msg(OPT.replace("OPTIONS sip", "options sip").replace("1 OPTIONS", "1 options"))
CASES["real-unknown-method"] = msg(OPT.replace("OPTIONS sip", "PING sip").replace("1 OPTIONS", "1 PING"))
CASES["real-cseq-foo"] = opt("1 OPTIONS", "1 FOO")
CASES["real-gone-fishing"] = msg("""SIP/2.0 480 Gone Fishing
Via: SIP/2.0/UDP pc.example.com:5060;branch=z9hG4bK1
From: Alice <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b1
Call-ID: opt-1@pc.example.com
CSeq: 1 OPTIONS
Content-Length: 0""")
CASES["real-trailing-spaces"] = msg(OPT.replace("opt-1@pc.example.com", "abc   ")
                                    .replace("Max-Forwards: 70", "Max-Forwards: 70 ")
                                    .replace("Content-Length: 0", "Content-Length:  0 "))
CASES["real-truncated"] = crlf(OPT.split("To:")[0] + "From: Alice <sip:a")
CASES["real-cl-too-big"] = msg(OPT.replace("Content-Length: 0", "Content-Type: text/plain\nContent-Length: 1500"), "x" * 244)
CASES["real-lf-only"] = (OPT + "\n\n").encode()
CASES["real-empty"] = b""
CASES["real-keepalive"] = b"\r\n\r\n"
CASES["real-baduri-v6"] = opt("OPTIONS sip:bob@example.com", "OPTIONS sip:u@[2001:db8::1")
CASES["real-bare-cr"] = opt("Max-Forwards: 70", "Max-Forwards: 70\rX-Smuggled: 1")
CASES["real-nul-in-value"] = opt("Max-Forwards: 70", "X-Nul: a\x00b\nMax-Forwards: 70")
CASES["real-contact-star-mixed"] = opt("Content-Length: 0", "Contact: *, <sip:a@h>\nContent-Length: 0")
CASES["real-mf-300"] = opt("Max-Forwards: 70", "Max-Forwards: 300")
CASES["real-status-099"] = msg("SIP/2.0 099 Too Low\n" + "\n".join(OPT.split("\n")[1:]))
CASES["real-no-headers"] = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\r\n"
CASES["real-too-many-headers"] = opt("Content-Length: 0", "\n".join(f"X-H{i}: {i}" for i in range(300)) + "\nContent-Length: 0")
CASES["real-long-line"] = opt("Content-Length: 0", "X-Long: " + "a" * 9000 + "\nContent-Length: 0")
CASES["real-too-large"] = opt("Content-Length: 0", "Content-Type: text/plain\nContent-Length: 70000") + b"x" * 70000

INVITE888_HEAD = """INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport
Max-Forwards: 70
To: Bob <sip:bob@biloxi.example.com>
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.example.com:5060;transport=udp>
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY
Supported: replaces, timer, 100rel
User-Agent: hotline-bench/1.0
Session-Expires: 1800;refresher=uac
Content-Type: application/sdp
Content-Length: {n}"""
SDP_INV = ("v=0\no=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\ns=Session SDP\n"
           "c=IN IP4 192.0.2.101\nt=0 0\nm=audio 49172 RTP/AVP 0 8 101\na=rtpmap:0 PCMU/8000\n"
           "a=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na=ptime:20\n"
           "a=sendrecv\n")
_body = crlf(SDP_INV)
_inv = msg(INVITE888_HEAD.format(n=len(_body)), _body)
_pad = 888 - len(_inv)
assert _pad >= 0, len(_inv)
_inv = msg(INVITE888_HEAD.format(n=len(_body)).replace("hotline-bench/1.0", "hotline-bench/1.0" + "x" * _pad), _body)
assert len(_inv) == 888, len(_inv)
CASES["real-invite-sdp-888"] = _inv
CASES["real-200-ok"] = msg("""SIP/2.0 200 OK
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.101
To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:bob@192.0.2.4:5060>
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS
Supported: replaces, timer
Server: hotline-bench/1.0
Content-Length: 0""")

if __name__ == "__main__":
    for name, data in CASES.items():
        with open(os.path.join(HERE, name + ".sip"), "wb") as f:
            f.write(data)
    print(len(CASES), "cases written")
