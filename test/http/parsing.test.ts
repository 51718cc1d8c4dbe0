/** Reading credentials and paths from requests: every odd input is "nothing", never an exception. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createAuthConfig } from "../../src/core/config.js";
import {
  MAX_AUTH_HEADER_LENGTH,
  bearerToken,
  cookieValue,
  credentialsOfNodeRequest,
  sessionFromQuery,
  splitTarget,
} from "../../src/http/credentials.js";
import { normalisedSegments, publicPathMatcher } from "../../src/http/paths.js";

const config = createAuthConfig();

describe("bearerToken", () => {
  test("takes the token after a case-insensitive Bearer scheme and whitespace", () => {
    assert.equal(bearerToken("Bearer a:1:0:ff"), "a:1:0:ff");
    assert.equal(bearerToken("bearer a:1:0:ff"), "a:1:0:ff");
    assert.equal(bearerToken("  BEARER\t  a b:1:0:ff  "), "a b:1:0:ff");
  });

  test("is null for other schemes and for a scheme with no token", () => {
    for (const value of ["Basic YWxpY2U6cHc=", "Bearer", "Bearer   ", "Bearerx a", "Token a", "", "a:1:0:ff"]) {
      assert.equal(bearerToken(value), null, JSON.stringify(value));
    }
  });
});

describe("cookieValue", () => {
  test("finds the named cookie, decodes it, and takes the first when it repeats", () => {
    assert.equal(cookieValue("a=1; pywry_session=s%3A1; b=2", "pywry_session"), "s:1");
    assert.equal(cookieValue('pywry_session="quoted"', "pywry_session"), "quoted");
    assert.equal(cookieValue("pywry_session=first; pywry_session=second", "pywry_session"), "first");
    assert.equal(cookieValue("xpywry_session=no; pywry_sessionx=no", "pywry_session"), null);
  });

  test("is null for empty or badly encoded values", () => {
    for (const header of ["pywry_session=", 'pywry_session=""', "pywry_session=%", "pywry_session=%C3%28", "pywry_session", ";;;", "="]) {
      assert.equal(cookieValue(header, "pywry_session"), null, header);
    }
  });
});

describe("sessionFromQuery", () => {
  test("reads the form-decoded session parameter", () => {
    assert.equal(sessionFromQuery("session=a%3Ab"), "a:b");
    assert.equal(sessionFromQuery("x=1&session=a+b&y"), "a b");
    assert.equal(sessionFromQuery("%73ession=encoded-name"), "encoded-name");
  });

  test("is null when absent, empty, repeated or badly encoded", () => {
    for (const query of ["", "sessions=a", "session", "session=", "session=a&session=b", "session=a&session=a", "session=%E0%A4%A"]) {
      assert.equal(sessionFromQuery(query), null, query);
    }
  });
});

describe("splitTarget", () => {
  test("splits origin-form and absolute-form targets; other forms have no path", () => {
    assert.deepEqual(splitTarget("/a/b?c=1#f"), { path: "/a/b", query: "c=1" });
    assert.deepEqual(splitTarget("http://host:80/a?session=x"), { path: "/a", query: "session=x" });
    assert.deepEqual(splitTarget("http://host"), { path: "/", query: "" });
    assert.deepEqual(splitTarget("*"), { path: null, query: "" });
  });

  test("ignores targets over the length limit", () => {
    assert.deepEqual(splitTarget(`/?session=${"a".repeat(MAX_AUTH_HEADER_LENGTH)}`), { path: null, query: "" });
  });
});

describe("credentialsOfNodeRequest", () => {
  test("reads headers in any case, from objects shaped like IncomingMessage", () => {
    const credentials = credentialsOfNodeRequest(
      { headers: { Cookie: "pywry_session=c", AUTHORIZATION: "Bearer t" }, url: "/ws?session=q" },
      config,
    );
    assert.deepEqual(credentials, { cookie: "c", bearer: "t", query: "q" });
  });

  test("an auth header given twice (as an array, or twice in rawHeaders) is no token", () => {
    assert.equal(credentialsOfNodeRequest({ headers: { authorization: ["Bearer a", "Bearer b"] } }, config).bearer, null);
    assert.equal(
      credentialsOfNodeRequest({ headers: { authorization: "Bearer a" }, rawHeaders: ["Authorization", "Bearer a", "authorization", "Bearer b"] }, config).bearer,
      null,
    );
  });

  test("repeated Cookie headers are joined, as Node does", () => {
    assert.equal(credentialsOfNodeRequest({ headers: { cookie: ["a=1", "pywry_session=c"] } }, config).cookie, "c");
  });

  test("prefers originalUrl (Express, Connect) to url", () => {
    assert.equal(credentialsOfNodeRequest({ headers: {}, url: "/x", originalUrl: "/api/x?session=q" }, config).query, "q");
  });

  test("headers over the limit are not read", () => {
    const long = "a".repeat(MAX_AUTH_HEADER_LENGTH);
    assert.deepEqual(
      credentialsOfNodeRequest({ headers: { cookie: `pywry_session=${long}`, authorization: `Bearer ${long}` }, url: "/" }, config),
      { cookie: null, bearer: null, query: null },
    );
    assert.equal(credentialsOfNodeRequest({ headers: { cookie: `pywry_session=${"a".repeat(MAX_AUTH_HEADER_LENGTH - 14)}` } }, config).cookie?.length, MAX_AUTH_HEADER_LENGTH - 14);
  });
});

describe("public paths", () => {
  test("normalisedSegments resolves dot segments, including encoded ones, and drops empty ones", () => {
    assert.deepEqual(normalisedSegments("/a//b/./c/../d/"), ["a", "b", "d"]);
    assert.deepEqual(normalisedSegments("/a/%2e%2E/b"), ["b"]);
    assert.deepEqual(normalisedSegments("/../../a"), ["a"]);
    assert.deepEqual(normalisedSegments("/caf%C3%A9"), ["café"]);
  });

  test("normalisedSegments refuses paths that read more than one way", () => {
    for (const path of ["/a%2Fb", "/a\\b", "/a%5Cb", "/a%00", "/a%E0%A4%A", "relative"]) {
      assert.equal(normalisedSegments(path), null, path);
    }
  });

  test("publicPathMatcher matches whole segments", () => {
    const isPublic = publicPathMatcher(["/auth", "/static/"]);
    for (const target of ["/auth", "/auth/", "/auth/callback?code=1", "/static", "/static/app.js", "http://h/auth/login"]) {
      assert.equal(isPublic(target), true, target);
    }
    for (const target of ["/authx", "/auth/../admin", "/auth/%2e%2e/admin", "/staticx", "/a/auth", "*", "", "/auth%2Fx"]) {
      assert.equal(isPublic(target), false, target);
    }
  });

  test("no public paths: nothing is public", () => {
    assert.equal(publicPathMatcher([])("/auth"), false);
  });

  test("entries must be absolute paths without dot segments", () => {
    for (const entry of ["auth", "", "/auth/..", "/./auth", "/a/%2e%2e", "/a%2Fb"]) {
      assert.throws(() => publicPathMatcher([entry]), { code: "ERR_INVALID_INPUT" }, entry);
    }
  });
});
