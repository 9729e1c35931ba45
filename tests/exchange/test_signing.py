"""Signing against the official test vector and the reference's constructed vectors (§4.2, §5.7)."""

from __future__ import annotations

from laptop_agents.exchange.bitunix.signing import new_nonce, query_string_for_signing, sign, sign_ws_login


def test_official_go_demo_vector() -> None:
    query = query_string_for_signing({"marginCoin": "USDT"})
    assert query == "marginCoinUSDT"
    got = sign(
        api_key="11111111111111111",
        secret="22222222222222222",
        nonce="33333333333333333",
        timestamp="1747104711262",
        query=query,
        body="",
    )
    assert got == "40e87256554e263e39201a3979469b7fbb640d1c7c41759abf5c6a18f937f922"


def test_doc_example_vector_with_body() -> None:
    body = '{"uid":"2899","arr":[{"id":1,"name":"maple"},{"id":2,"name":"lily"}]}'
    got = sign(
        api_key="yourApiKey",
        secret="yourSecretKey",
        nonce="123456",
        timestamp="20241120123045",
        query=query_string_for_signing({"uid": "200", "id": "1"}),
        body=body,
    )
    assert got == "00397cd1e52c7dce3258067324363b6361fabc9178a0912b330c138db8745655"


def test_constructed_post_and_get_vectors() -> None:
    common = {
        "api_key": "testkey",
        "secret": "testsecret",
        "nonce": "0123456789abcdef0123456789abcdef",
        "timestamp": "1767225600000",
    }
    body = (
        '{"symbol":"BTCUSDT","side":"BUY","orderType":"LIMIT","qty":"0.01","price":"60000","tradeSide":"OPEN",'
        '"effect":"GTC","clientId":"demo-0001","reduceOnly":false}'
    )
    assert sign(**common, body=body) == "5ac2ee959094e80dca48d7dc203cca0c44346330e3a90e099bcb7cc98d2cafaf"
    query = query_string_for_signing({"symbol": "BTCUSDT", "marginCoin": "USDT"})
    assert sign(**common, query=query) == "6475ea826e5dc04f44e6354af68adfa7b9243faae5071c6117eb14f1f2466c1a"


def test_ws_login_vector() -> None:
    got = sign_ws_login(
        api_key="testkey", secret="testsecret", nonce="0123456789abcdef0123456789abcdef", timestamp=1767225600
    )
    assert got == "12ea3a4883d14a5388e77c44893b780dce82a1ba5038248a3933664ac891a139"


def test_query_skips_empty_values_and_sign() -> None:
    assert query_string_for_signing({"b": "2", "a": "1", "c": "", "sign": "x", "d": None}) == "a1b2"


def test_nonce_is_32_hex_and_fresh() -> None:
    a, b = new_nonce(), new_nonce()
    assert len(a) == 32 and int(a, 16) >= 0 and a != b
