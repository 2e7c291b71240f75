package claim

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/elevate-gitops/elevate/internal/testenv"
)

// dynamoClient is a DynamoDB client of its own (one replica) for endpoint.
func dynamoClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// createTable creates a claims table as the README's deployment does:
// partition key id (a string), on demand.
func createTable(t *testing.T, client *dynamodb.Client, name string) {
	t.Helper()
	_, err := client.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
}

// item is the item holding key in the table, or nil.
func item(t *testing.T, client *dynamodb.Client, table, key string) map[string]types.AttributeValue {
	t.Helper()
	out, err := client.GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: key}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("get %.20q from %s: %v", key, table, err)
	}
	return out.Item
}

func claim(t *testing.T, c Claimer, id string, ttl time.Duration) bool {
	t.Helper()
	won, err := c.Claim(t.Context(), id, ttl)
	if err != nil {
		t.Fatalf("Claim(%.20q): %v", id, err)
	}
	return won
}

// TestTableAgainstMoto claims in moto's DynamoDB, through two clients
// standing for two replicas.
func TestTableAgainstMoto(t *testing.T) {
	endpoint := testenv.StartMoto(t, -1)
	admin := dynamoClient(endpoint)

	// Not parallel: t.Setenv.
	for i, variable := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"} {
		t.Run("OpenTable honours "+variable, func(t *testing.T) {
			for _, v := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_PROFILE"} {
				t.Setenv(v, "")
			}
			t.Setenv(variable, endpoint)
			t.Setenv("AWS_CONFIG_FILE", "/dev/null")
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
			t.Setenv("AWS_REGION", "us-east-1")
			name := fmt.Sprintf("opened-%d", i)
			createTable(t, admin, name)
			tbl, err := OpenTable(t.Context(), name, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
			if err != nil {
				t.Fatal(err)
			}
			if !claim(t, tbl, "event-1", time.Hour) {
				t.Fatal("the first claim lost")
			}
			if claim(t, tbl, "event-1", time.Hour) {
				t.Fatal("the second claim won")
			}
			if item(t, admin, name, "event-1") == nil {
				t.Fatal("the claim is not in moto's table: OpenTable called elsewhere")
			}
		})
	}

	t.Run("replicas", func(t *testing.T) {
		t.Run("once across replicas, with the item as claimed", func(t *testing.T) {
			t.Parallel()
			createTable(t, admin, "once")
			before := time.Now()
			one, two := NewTable(dynamoClient(endpoint), "once", nil), NewTable(dynamoClient(endpoint), "once", nil)
			if !claim(t, one, "event-1", time.Hour) {
				t.Fatal("the first claim lost")
			}
			if claim(t, one, "event-1", time.Hour) {
				t.Fatal("a second claim by the same replica won")
			}
			if claim(t, two, "event-1", time.Hour) {
				t.Fatal("a second claim by another replica won")
			}
			it := item(t, admin, "once", "event-1")
			if id, ok := it["id"].(*types.AttributeValueMemberS); !ok || id.Value != "event-1" {
				t.Errorf("id = %#v, want the string event-1", it["id"])
			}
			ttl, ok := it["ttl"].(*types.AttributeValueMemberN)
			if !ok {
				t.Fatalf("ttl = %#v, want a number", it["ttl"])
			}
			secs, err := strconv.ParseInt(ttl.Value, 10, 64)
			if err != nil {
				t.Fatalf("ttl %q: %v", ttl.Value, err)
			}
			if lo, hi := before.Add(time.Hour).Unix(), time.Now().Add(time.Hour).Unix()+1; secs < lo || secs > hi {
				t.Errorf("ttl = %d, want now+1h: in [%d, %d]", secs, lo, hi)
			}
			if at, ok := it["claimed_at"].(*types.AttributeValueMemberS); !ok {
				t.Errorf("claimed_at = %#v, want a string", it["claimed_at"])
			} else if _, err := time.Parse(time.RFC3339, at.Value); err != nil {
				t.Errorf("claimed_at: %v", err)
			}
		})

		t.Run("an expired item not yet deleted is claimable again", func(t *testing.T) {
			t.Parallel()
			createTable(t, admin, "expired")
			past := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
			if _, err := admin.PutItem(t.Context(), &dynamodb.PutItemInput{
				TableName: aws.String("expired"),
				Item: map[string]types.AttributeValue{
					"id":  &types.AttributeValueMemberS{Value: "event-1"},
					"ttl": &types.AttributeValueMemberN{Value: past},
				},
			}); err != nil {
				t.Fatal(err)
			}
			tbl := NewTable(dynamoClient(endpoint), "expired", nil)
			if !claim(t, tbl, "event-1", time.Hour) {
				t.Fatal("the expired claim was not claimable")
			}
			if claim(t, tbl, "event-1", time.Hour) {
				t.Fatal("the renewed claim was claimable again")
			}
		})

		t.Run("with a MAC, an item no replica sealed holds nothing", func(t *testing.T) {
			t.Parallel()
			createTable(t, admin, "forged")
			forever := strconv.FormatInt(time.Now().Add(100*365*24*time.Hour).Unix(), 10)
			for _, forged := range []map[string]types.AttributeValue{
				{"id": &types.AttributeValueMemberS{Value: "event-1"}, "ttl": &types.AttributeValueMemberN{Value: forever}},
				{"id": &types.AttributeValueMemberS{Value: "event-2"}, "ttl": &types.AttributeValueMemberN{Value: forever}, "mac": &types.AttributeValueMemberS{Value: strings.Repeat("0", 64)}},
			} {
				if _, err := admin.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String("forged"), Item: forged}); err != nil {
					t.Fatal(err)
				}
			}
			key := []byte("a state key of at least thirty-two bytes")
			one := NewTable(dynamoClient(endpoint), "forged", nil).WithMAC(key)
			two := NewTable(dynamoClient(endpoint), "forged", nil).WithMAC(key)
			for _, id := range []string{"event-1", "event-2", "event-3"} {
				if !claim(t, one, id, time.Hour) {
					t.Errorf("%s: an item written without the key held the claim", id)
				}
				if claim(t, two, id, time.Hour) {
					t.Errorf("%s: claimed twice under one key", id)
				}
			}
			if claim(t, NewTable(dynamoClient(endpoint), "forged", nil), "event-1", time.Hour) {
				t.Error("without a MAC, a sealed unexpired item was claimable")
			}
		})

		t.Run("an injected clock past the ttl claims again", func(t *testing.T) {
			t.Parallel()
			createTable(t, admin, "clock")
			c := &clock{at: time.Now()}
			one, two := NewTable(dynamoClient(endpoint), "clock", c.now), NewTable(dynamoClient(endpoint), "clock", c.now)
			if !claim(t, one, "event-1", time.Minute) {
				t.Fatal("the first claim lost")
			}
			c.advance(time.Minute)
			if claim(t, two, "event-1", time.Minute) {
				t.Fatal("claimed again within the second the ttl ends in")
			}
			c.advance(2 * time.Second)
			if !claim(t, two, "event-1", time.Minute) {
				t.Fatal("not claimable after the ttl")
			}
		})

		t.Run("20 racers over two replicas, one winner", func(t *testing.T) {
			t.Parallel()
			createTable(t, admin, "race")
			if n := race(t, 20, NewTable(dynamoClient(endpoint), "race", nil), NewTable(dynamoClient(endpoint), "race", nil)); n != 1 {
				t.Fatalf("%d claims won, want exactly 1", n)
			}
		})

		t.Run("a long id is stored hashed, once", func(t *testing.T) {
			t.Parallel()
			createTable(t, admin, "long")
			long := strings.Repeat("x", 3000) // past DynamoDB's 2048-byte key limit
			one, two := NewTable(dynamoClient(endpoint), "long", nil), NewTable(dynamoClient(endpoint), "long", nil)
			if !claim(t, one, long, time.Hour) {
				t.Fatal("the first claim lost")
			}
			if claim(t, two, long, time.Hour) {
				t.Fatal("a second claim won")
			}
			if !claim(t, two, long+"y", time.Hour) {
				t.Fatal("another long id lost")
			}
			k, _ := key(long, time.Hour)
			if item(t, admin, "long", k) == nil {
				t.Fatalf("no item under %s", k)
			}
		})

		t.Run("a missing table is an error", func(t *testing.T) {
			t.Parallel()
			won, err := NewTable(dynamoClient(endpoint), "no-such-table", nil).Claim(t.Context(), "event-1", time.Hour)
			var missing *types.ResourceNotFoundException
			if won || !errors.As(err, &missing) {
				t.Fatalf("Claim = %v, %v; want false and ResourceNotFoundException", won, err)
			}
		})

		t.Run("an unreachable table is an error", func(t *testing.T) {
			t.Parallel()
			won, err := NewTable(dynamoClient(closedEndpoint(t)), "once", nil).Claim(t.Context(), "event-1", time.Hour)
			if won || err == nil {
				t.Fatalf("Claim = %v, %v; want false and an error", won, err)
			}
			if !strings.Contains(err.Error(), "once") {
				t.Errorf("error %q does not name the table", err)
			}
		})
	})
}

// closedEndpoint is the URL of a loopback port nothing listens on.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return fmt.Sprintf("http://%s", addr)
}
