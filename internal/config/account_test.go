package config

import (
	"strings"
	"testing"
	"time"
)

func TestAccountPageIsOffWithoutItsClient(t *testing.T) {
	c, err := Load(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Account.On() {
		t.Errorf("account page on without ACCOUNT_CLIENT_ID: %+v", c.Account)
	}
}

func TestAccountSettings(t *testing.T) {
	e := valid()
	e["ACCOUNT_CLIENT_ID"] = "account-client"
	e["ACCOUNT_CLIENT_SECRET"] = "s3cret-account-pw"
	e["HYDRA_PUBLIC_URL"] = "https://oauth.blink.sv/"
	c, err := Load(env(e))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Account.On() || c.Account.HydraPublicURL.String() != "https://oauth.blink.sv" || c.Account.SessionTTL != time.Hour {
		t.Errorf("account %+v", c.Account)
	}
}

func TestAccountSettingsErrorsNameTheVariableAndHideTheSecret(t *testing.T) {
	tests := []struct {
		name    string
		change  map[string]string
		wantVar string
	}{
		{"id without secret", map[string]string{"ACCOUNT_CLIENT_ID": "account-client"}, "ACCOUNT_CLIENT_SECRET"},
		{"secret without id", map[string]string{"ACCOUNT_CLIENT_SECRET": "s3cret-account-pw"}, "ACCOUNT_CLIENT_ID"},
		{"no hydra public url", map[string]string{"ACCOUNT_CLIENT_ID": "a", "ACCOUNT_CLIENT_SECRET": "s3cret-account-pw"}, "HYDRA_PUBLIC_URL"},
		{"http hydra public url", map[string]string{"ACCOUNT_CLIENT_ID": "a", "ACCOUNT_CLIENT_SECRET": "s3cret-account-pw", "HYDRA_PUBLIC_URL": "http://oauth.blink.sv"}, "HYDRA_PUBLIC_URL"},
		{"short ttl", map[string]string{"ACCOUNT_CLIENT_ID": "a", "ACCOUNT_CLIENT_SECRET": "s3cret-account-pw", "HYDRA_PUBLIC_URL": "https://oauth.blink.sv", "ACCOUNT_SESSION_TTL": "1m"}, "ACCOUNT_SESSION_TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid()
			for k, v := range tt.change {
				e[k] = v
			}
			_, err := Load(env(e))
			if err == nil {
				t.Fatal("Load accepted it")
			}
			if !strings.Contains(err.Error(), tt.wantVar+":") {
				t.Errorf("error does not name %s: %v", tt.wantVar, err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}
