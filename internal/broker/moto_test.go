package broker_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
)

// TestEndToEndAgainstMoto: the broker's IAM user and a target role with the
// README's trust policy are created through the AWS CLI in moto; the broker
// assumes the role in moto; the AWS CLI calls sts get-caller-identity with
// what it issued.
func TestEndToEndAgainstMoto(t *testing.T) {
	t.Parallel()
	target := brokertest.StartMoto(t)
	endpoint := target.Endpoint
	h := brokertest.NewOn(t, target)
	a := h.Credentials(h.Codertocat(), byID)
	if a.Status != 200 {
		t.Fatalf("broker against moto: %d %s", a.Status, a.Raw)
	}
	issued := []string{
		"AWS_ACCESS_KEY_ID=" + a.Body["AccessKeyId"].(string),
		"AWS_SECRET_ACCESS_KEY=" + a.Body["SecretAccessKey"].(string),
		"AWS_SESSION_TOKEN=" + a.Body["SessionToken"].(string),
	}
	var who struct{ Arn string }
	if err := json.Unmarshal(brokertest.AWSCLI(t, endpoint, issued, "sts", "get-caller-identity"), &who); err != nil {
		t.Fatal(err)
	}
	want := "arn:aws:sts::123456789012:assumed-role/Admin/" + awsSessionName()
	if who.Arn != want {
		t.Errorf("get-caller-identity Arn = %s, want %s", who.Arn, want)
	}

	// moto checks signatures after set-up: a broker with a wrong secret gets nothing.
	bad := brokertest.NewOn(t, brokertest.AWS{Endpoint: endpoint, Key: target.Key, Secret: "wrong", AccountID: target.AccountID})
	if a := bad.Credentials(bad.Codertocat(), byID); a.Status != 502 || !strings.Contains(a.Raw, "upstream") {
		t.Errorf("wrong broker secret: %d %s", a.Status, a.Raw)
	}
}
