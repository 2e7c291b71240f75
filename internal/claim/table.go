package claim

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// claimTimeout bounds each Claim's call to the table, so a hung table never
// holds a sender for long.
const claimTimeout = 5 * time.Second

// PutItemAPI is the one DynamoDB call a Table makes.
type PutItemAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Table claims through a DynamoDB table shared by every replica. Its
// partition key is id (a string); its expiry is the number attribute ttl
// (epoch seconds), which DynamoDB's TTL should be set to delete. Each claim
// is one conditional PutItem: it succeeds only when no unexpired item holds
// the id, so of any number of concurrent callers exactly one wins.
type Table struct {
	client PutItemAPI
	name   string
	now    func() time.Time
	macKey []byte // when set, items carry a MAC of their id and ttl
}

// WithMAC makes t seal each item with an HMAC-SHA256 under key over its id,
// and take an item whose MAC does not verify for no claim at all: whoever
// can write the table but does not hold the key cannot suppress a notice by
// claiming its id first. (Such a writer can still delete items, so that a
// notice comes twice, or keep an item a replica wrote past its ttl, which
// only holds back what was sent already: the table's IAM policy guards it.)
func (t *Table) WithMAC(key []byte) *Table {
	out := *t
	out.macKey = key
	return &out
}

// mac seals id.
func (t *Table) mac(id string) string {
	m := hmac.New(sha256.New, t.macKey)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))
}

var _ Claimer = (*Table)(nil)

// NewTable returns a Table claiming in the table name through client,
// reading the time from now (time.Now when nil).
func NewTable(client PutItemAPI, name string, now func() time.Time) *Table {
	if now == nil {
		now = time.Now
	}
	return &Table{client: client, name: name, now: now}
}

// OpenTable returns a Table claiming in the table name through a DynamoDB
// client built from the SDK's default configuration (so the region and
// endpoint variables, AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL, are
// honoured), changed by optFns. It makes no call.
func OpenTable(ctx context.Context, name string, optFns ...func(*config.LoadOptions) error) (*Table, error) {
	if name == "" {
		return nil, errors.New("claim: empty DynamoDB table name")
	}
	cfg, err := config.LoadDefaultConfig(ctx, optFns...)
	if err != nil {
		return nil, fmt.Errorf("load the AWS configuration for DynamoDB table %s: %w", name, err)
	}
	return NewTable(dynamodb.NewFromConfig(cfg), name, nil), nil
}

// Claim grants id to its first caller, until ttl after that claim (rounded
// up to the second, and held until that second has passed: DynamoDB keeps
// seconds). An item whose ttl has passed is claimable again even though
// DynamoDB has not deleted it yet: it deletes expired items only lazily.
func (t *Table) Claim(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	k, err := key(id, ttl)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	now := t.now()
	until := strconv.FormatInt(ceilUnix(now.Add(ttl)), 10)
	in := &dynamodb.PutItemInput{
		TableName: aws.String(t.name),
		Item: map[string]types.AttributeValue{
			"id":         &types.AttributeValueMemberS{Value: k},
			"ttl":        &types.AttributeValueMemberN{Value: until},
			"claimed_at": &types.AttributeValueMemberS{Value: now.UTC().Format(time.RFC3339)},
		},
		ConditionExpression:       aws.String("attribute_not_exists(id) OR #ttl < :now"),
		ExpressionAttributeNames:  map[string]string{"#ttl": "ttl"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Unix(), 10)}},
	}
	if t.macKey != nil {
		// An item without the MAC the key seals for its id was not
		// written by a replica: it holds nothing.
		mac := t.mac(k)
		in.Item["mac"] = &types.AttributeValueMemberS{Value: mac}
		in.ConditionExpression = aws.String("attribute_not_exists(id) OR #ttl < :now OR attribute_not_exists(#mac) OR #mac <> :mac")
		in.ExpressionAttributeNames["#mac"] = "mac"
		in.ExpressionAttributeValues[":mac"] = &types.AttributeValueMemberS{Value: mac}
	}
	_, err = t.client.PutItem(ctx, in)
	var held *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &held):
		return false, nil
	default:
		return false, fmt.Errorf("claim in DynamoDB table %s: %w", t.name, err)
	}
}

// ceilUnix is at in epoch seconds, rounded up: a claim is held at least its
// ttl.
func ceilUnix(at time.Time) int64 {
	s := at.Unix()
	if at.Nanosecond() > 0 {
		s++
	}
	return s
}
