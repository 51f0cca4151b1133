package corestandin

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Telegram Passport as core serves it
// (core/api/src/servers/authentication/telegram-passport/*.ts,
// app/authentication/request-telegram-passport-nonce.ts and login.ts):
// request-params keeps nonce → phone for 10 minutes; Telegram's webhook
// (AuthorizeTelegram here) authorizes the nonce for 5 minutes; login answers
// "still pending" until then, signs the phone in once (the nonce is then
// gone), and refuses a nonce authorized for another phone.

// Core's texts for these routes (error-map.ts).
const (
	textTelegramDisabled    = "Telegram passport authentication is not enabled"
	textTelegramPending     = "Authorization data from Telegram is still pending. Please wait a few seconds and try again."
	textTelegramNonceIP     = "Too many nonce attempts on same network, please wait for a while and try again."
	textTelegramNoncePhone  = "Too many nonce attempts, please wait for a while and try again."
	textTelegramPhoneNonce  = "Unknown error occurred (code: InvalidNoncePhoneTelegramPassportError)"
	textInvalidChannel      = "Invalid channel"
	textInvalidNonce        = "invalid nonce"
	keyTelegramNonceIP      = "telegram_passport_nonce_ip:"
	keyTelegramNoncePhone   = "telegram_passport_nonce_phone:"
	telegramRequestLifetime = 10 * time.Minute
	telegramLoginLifetime   = 5 * time.Minute
)

// TelegramBotID and TelegramPublicKey are what request-params answers with
// (core's TELEGRAM_BOT_ID and TELEGRAM_PASSPORT_PUBLIC_KEY).
const (
	TelegramBotID     = "7000000001"
	TelegramPublicKey = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAstandin\n-----END PUBLIC KEY-----"
)

// Core's nonce limits (requestTelegramPassportNonceAttemptPerIp / PerPhoneNumber).
var (
	telegramNoncePerIP    = Limit{Points: 25, Window: 5 * time.Minute, Block: time.Hour}
	telegramNoncePerPhone = Limit{Points: 5, Window: time.Hour, Block: 4 * time.Hour}
)

type telegramState struct {
	disabled   bool
	requested  map[string]telegramNonce // nonce → phone, from request-params
	authorized map[string]telegramNonce // nonce → phone, from Telegram's webhook
}

type telegramNonce struct {
	phone   string
	expires time.Time
}

// tg is the Telegram state, made on first use; callers hold s.mu.
func (s *Standin) tg() *telegramState {
	if s.telegram == nil {
		s.telegram = &telegramState{requested: map[string]telegramNonce{}, authorized: map[string]telegramNonce{}}
	}
	return s.telegram
}

// SetTelegramDisabled answers both routes as a core without Telegram
// Passport configured does.
func (s *Standin) SetTelegramDisabled(disabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tg().disabled = disabled
}

// AuthorizeTelegram plays Telegram's webhook for nonce: the person shared
// phone in Telegram (core decrypts it from the passport data). It reports
// whether the nonce was a live request, as core's authorizeTelegramPassportNonce
// does.
func (s *Standin) AuthorizeTelegram(nonce, phone string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, now := s.tg(), s.now()
	req, ok := t.requested[nonce]
	if !ok || !now.Before(req.expires) {
		return false
	}
	t.authorized[nonce] = telegramNonce{phone: phone, expires: now.Add(telegramLoginLifetime)}
	return true
}

// TelegramNonce is the last nonce request-params gave for phone ("" when none).
func (s *Standin) TelegramNonce(phone string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, at := "", time.Time{}
	for nonce, r := range s.tg().requested {
		if r.phone == phone && r.expires.After(at) {
			last, at = nonce, r.expires
		}
	}
	return last
}

func (s *Standin) telegramRequestParams(w http.ResponseWriter, ip string, body map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tg()
	if t.disabled {
		errorS(w, http.StatusBadRequest, textTelegramDisabled)
		return
	}
	raw := body["phone"]
	if raw == "" {
		errorS(w, http.StatusBadRequest, textMissingInputs)
		return
	}
	phone, ok := normalizePhone(raw)
	if !ok {
		errorS(w, http.StatusBadRequest, "Unexpected error occurred, please try again or contact support if it persists (code: InvalidPhoneNumber: "+raw+")")
		return
	}
	if !s.countryOffersLocked(phone, "TELEGRAM") {
		errorS(w, http.StatusBadRequest, textInvalidChannel)
		return
	}
	now := s.now()
	if !s.counters.consume(telegramNoncePerIP, keyTelegramNonceIP+ip, now) {
		errorS(w, http.StatusBadRequest, textTelegramNonceIP)
		return
	}
	if !s.counters.consume(telegramNoncePerPhone, keyTelegramNoncePhone+phone, now) {
		errorS(w, http.StatusBadRequest, textTelegramNoncePhone)
		return
	}
	nonce := newUUID()
	t.requested[nonce] = telegramNonce{phone: phone, expires: now.Add(telegramRequestLifetime)}
	writeJSON(w, http.StatusOK, obj{
		{"bot_id", TelegramBotID},
		{"scope", obj{{"data", []string{"phone_number"}}, {"v", 1}}},
		{"public_key", TelegramPublicKey},
		{"nonce", nonce},
	})
}

func (s *Standin) telegramLogin(w http.ResponseWriter, ip string, body map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tg()
	if t.disabled {
		errorS(w, http.StatusBadRequest, textTelegramDisabled)
		return
	}
	nonce, raw := body["nonce"], body["phone"]
	if nonce == "" || raw == "" {
		errorS(w, http.StatusBadRequest, textMissingInputs)
		return
	}
	if !isUUID(nonce) {
		errorS(w, http.StatusBadRequest, textInvalidNonce)
		return
	}
	phone, ok := normalizePhone(raw)
	if !ok {
		errorS(w, http.StatusBadRequest, textInvalidPhone)
		return
	}
	if !s.countryOffersLocked(phone, "TELEGRAM") {
		errorS(w, http.StatusUnauthorized, textInvalidChannel)
		return
	}
	now := s.now()
	if !s.counters.consume(s.limits.FailedLoginPerIP, keyLoginIP+ip, now) {
		errorS(w, http.StatusUnauthorized, textLoginIPLimit)
		return
	}
	if !s.counters.consume(s.limits.LoginPerIdentifier, keyLoginID+phone, now) {
		errorS(w, http.StatusUnauthorized, textLoginPhoneLimit)
		return
	}
	auth, ok := t.authorized[nonce]
	if !ok || !now.Before(auth.expires) {
		if req, live := t.requested[nonce]; live && now.Before(req.expires) {
			errorS(w, http.StatusUnauthorized, textTelegramPending)
			return
		}
		errorS(w, http.StatusUnauthorized, "Invalid nonce "+nonce)
		return
	}
	if auth.phone != phone {
		errorS(w, http.StatusUnauthorized, textTelegramPhoneNonce)
		return
	}
	// Single use: core clears the login key, and the request expires.
	delete(t.authorized, nonce)
	delete(t.requested, nonce)
	s.counters.reward(keyLoginIP + ip)
	id, ok := s.phoneAccountLocked(w, ip, phone)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.loginLocked(id))
}

// countryOffersLocked reports whether phone's country lists channel (core's
// checkedToChannel with its per-country configuration).
func (s *Standin) countryOffersLocked(phone, channel string) bool {
	n, err := phonenumbers.Parse(phone, "")
	if err != nil {
		return false
	}
	region := phonenumbers.GetRegionCodeForNumber(n)
	for _, c := range s.countries {
		if strings.EqualFold(c.ID, region) && slices.Contains(c.Channels, channel) {
			return true
		}
	}
	return false
}

// TelegramScriptURL is the stand-in of Telegram's Passport script for
// `blink-consent dev`: Passport.auth, instead of opening Telegram, loads
// telegramConfirmPath for its nonce — the person confirming in Telegram,
// which authorizes the nonce for the phone it was requested for — and then
// closes its tooltip as the real script does when the person comes back.
func (s *Standin) TelegramScriptURL() string { return s.base + telegramScriptPath }

const (
	telegramScriptPath  = "/static/telegram-passport.js"
	telegramConfirmPath = "/static/telegram-confirm.js"
)

const telegramScript = `(function () {
  "use strict";
  var base = document.currentScript ? new URL(document.currentScript.src).origin : "";
  function auth(options, tooltipToggle) {
    if (!options || !options.bot_id || !options.scope || !options.public_key || !options.nonce) { throw new Error("bot_id, scope, public_key and nonce are required"); }
    var toggle = tooltipToggle || function () {};
    toggle(true);
    var s = document.createElement("script");
    s.src = base + "` + telegramConfirmPath + `?nonce=" + encodeURIComponent(options.nonce);
    s.onload = function () { setTimeout(function () { toggle(false); }, 300); };
    document.head.appendChild(s);
  }
  window.Telegram = window.Telegram || {};
  window.Telegram.Passport = { auth: auth };
})();
`

func serveTelegramScript(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(telegramScript))
}

// telegramConfirm plays the person confirming in Telegram (dev only): the
// nonce is authorized for the phone it was requested for.
func (s *Standin) telegramConfirm(w http.ResponseWriter, r *http.Request) {
	nonce := r.URL.Query().Get("nonce")
	s.mu.Lock()
	req, ok := s.tg().requested[nonce]
	s.mu.Unlock()
	if ok {
		s.AuthorizeTelegram(nonce, req.phone)
	}
	w.Header().Set("Content-Type", "application/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("/* confirmed */\n"))
}
