<?php
/**
 * regway client for PHP: the native protocol (protocol/native.md) in one file.
 *
 * Standard extensions only: curl and SimpleXML (Debian: php-curl, php-xml).
 * PHP 7.4 or later. Money is kept as decimal strings ("590.00"), never floats.
 *
 *     require_once 'regway.php';
 *     $rw = new RegwayClient('http://127.0.0.1:8080/api', 'demo', 'demo-password');
 *     $balance = $rw->balance();                      // RegwayBalance
 *     $rid = RegwayClient::requestId('shop', 'invoice', 117);
 *     $result = $rw->domainRegister($rid, 'example-shop.ru', '1000/RW-P');
 *     if ($result->pending) { $final = $rw->waitFor($rid, 600); }
 *
 * What the client does for you:
 * - retries, with exponential back-off and jitter, when the gateway cannot be reached
 *   or the answer is lost, when it answers 2502 (waiting at least Retry-After), and on a
 *   2400 that left nothing done (HTTP 500/504). Every changing command carries a
 *   request-id, so a retry of a request whose answer was lost gets the stored answer
 *   (`replayed`), never a second charge;
 * - turns every result code of 2000 and above into a typed exception (RegwayError and
 *   its subclasses) carrying the gateway's message, code and HTTP status, and the
 *   `object` the error is about where one code covers several cases (2303: 'domain',
 *   'client', 'order', 'request', ...; null when the answer names none);
 * - returns a pending order (1001) as a result with `pending` set; `waitFor()` polls
 *   `request.status` with back-off until the final answer or a deadline;
 * - walks paged listings (`domains()`, `clients()`, `orders()`, `ledger()`,
 *   `licenses()`) as generators that follow `next-cursor`.
 *
 * The file is the same everywhere it is shipped: integrations/ carry byte-identical
 * copies (integrations/README.md, "The PHP client").
 */

declare(strict_types=1);

/** A protocol error (result code 2000 and above), a transport failure, or a deadline passed while pending. */
class RegwayError extends RuntimeException
{
    /** @var int HTTP status of the answer; 0 when there was no answer. */
    public $httpStatus;
    /** @var string|null the request-id the gateway echoed, or the one that was sent. */
    public $requestId;
    /** @var RegwayResponse|null the answer, when there was one. */
    public $response;
    /**
     * @var string|null what the error is about, when one code covers several cases
     * (2201, 2303, 2304; protocol/errors.md): for 2303 'domain', 'client', 'order',
     * 'request' (nothing was done under that request-id), 'license' or 'statement'.
     * Null when the answer names no object, and for errors without an answer.
     */
    public $object;

    public function __construct(
        string $message,
        int $code,
        int $httpStatus = 0,
        ?string $requestId = null,
        ?RegwayResponse $response = null,
        ?Throwable $previous = null
    ) {
        parent::__construct($message, $code, $previous);
        $this->httpStatus = $httpStatus;
        $this->requestId = $requestId;
        $this->response = $response;
        $this->object = $response !== null ? $response->object : null;
    }

    /**
     * True when sending the same request again later (same request-id) may succeed:
     * the gateway could not be reached, a rate limit, an internal failure before
     * anything was done, or an order still pending.
     */
    public function isTemporary(): bool
    {
        $code = $this->getCode();
        return $code === 0 || $code === 1001 || $code === 2502
            || ($code === 2400 && ($this->httpStatus === 500 || $this->httpStatus === 504));
    }

    /** The exception class for a result code. */
    public static function fromResponse(RegwayResponse $r): RegwayError
    {
        switch ($r->code) {
            case 2200:
            case 2201:
                $class = 'RegwayAuthError';
                break;
            case 2000:
            case 2001:
            case 2003:
            case 2004:
            case 2005:
            case 2306:
                $class = 'RegwayInputError';
                break;
            case 2104:
                $class = 'RegwayBillingError';
                break;
            case 2105:
            case 2302:
            case 2304:
            case 2308:
                $class = 'RegwayConflictError';
                break;
            case 2303:
                $class = 'RegwayNotFoundError';
                break;
            case 2502:
                $e = new RegwayRateLimitError($r->message, $r->code, $r->httpStatus, $r->requestId, $r);
                $e->retryAfter = $r->retryAfter;
                return $e;
            case 2400:
                $class = 'RegwayCommandFailedError';
                break;
            default:
                $class = 'RegwayError';
        }
        return new $class($r->message, $r->code, $r->httpStatus, $r->requestId, $r);
    }
}

/** The gateway could not be reached, the answer was lost or was not a regway answer (code 0). */
class RegwayTransportError extends RegwayError
{
}

/** 2200 (wrong login or password, or locked out) and 2201 (not allowed: another partner's object, IP address, suspended account). */
class RegwayAuthError extends RegwayError
{
}

/** 2000, 2001, 2003, 2004, 2005, 2306: fix the request. */
class RegwayInputError extends RegwayError
{
}

/** 2104: not enough balance and credit; top up. */
class RegwayBillingError extends RegwayError
{
}

/** 2105 (wrong current expiry), 2302 (exists), 2304 (an order in progress), 2308 (request-id used for something else). */
class RegwayConflictError extends RegwayError
{
}

/** 2303: no such domain, client, order, request-id, licence or statement (`object` says which). */
class RegwayNotFoundError extends RegwayError
{
}

/** 2502: over a rate limit, after the client's own retries. */
class RegwayRateLimitError extends RegwayError
{
    /** @var int|null seconds the gateway asked to wait. */
    public $retryAfter;
}

/** 2400: the command failed and nothing was charged. */
class RegwayCommandFailedError extends RegwayError
{
}

/** An order still pending (1001) when the caller's deadline passed; ask again later with the same request-id. */
class RegwayPendingError extends RegwayError
{
}

/** One answer of the gateway. */
final class RegwayResponse
{
    /** @var int result code */
    public $code;
    /** @var string the result text, for people */
    public $message;
    /** @var string|null */
    public $requestId;
    /** @var int */
    public $httpStatus;
    /**
     * @var string|null what a 2201, 2303 or 2304 is about (<result object="...">):
     * 'domain', 'client', 'order', 'request', 'license', 'statement', 'address',
     * 'account'; null when absent.
     */
    public $object;
    /** @var bool the stored answer of an earlier request with this request-id */
    public $replayed;
    /** @var int|null seconds, with 2502 */
    public $retryAfter;
    /** @var SimpleXMLElement|null the <data> element */
    public $data;
    /** @var string the raw body */
    public $body;

    /** True for 1001: the order was accepted and is still in progress. */
    public function isPending(): bool
    {
        return $this->code === 1001;
    }

    /** True for 1000 and 1001. */
    public function isSuccess(): bool
    {
        return $this->code === 1000 || $this->code === 1001;
    }

    /**
     * Reads a native answer. Throws RegwayTransportError when the body is not a
     * regway <response> (a proxy's error page, a cut answer).
     *
     * @param array<string,string> $headers lower-case names
     */
    public static function parse(string $body, int $httpStatus, array $headers = []): RegwayResponse
    {
        $xml = self::load($body);
        if ($xml === null || $xml->getName() !== 'response' || !isset($xml->result)) {
            throw new RegwayTransportError(
                'the gateway answered HTTP ' . $httpStatus . ' without a regway response',
                0,
                $httpStatus
            );
        }
        return self::fromElement($xml, $body, $httpStatus, $headers);
    }

    /** @param array<string,string> $headers */
    public static function fromElement(SimpleXMLElement $xml, string $body, int $httpStatus, array $headers = []): RegwayResponse
    {
        $r = new RegwayResponse();
        $r->code = (int) $xml->result['code'];
        $r->message = (string) $xml->result;
        $r->object = isset($xml->result['object']) ? (string) $xml->result['object'] : null;
        $r->requestId = isset($xml->{'request-id'}) ? (string) $xml->{'request-id'} : null;
        $r->httpStatus = $httpStatus;
        $r->replayed = isset($headers['idempotent-replayed']) && trim($headers['idempotent-replayed']) === 'true';
        $r->retryAfter = isset($headers['retry-after']) && ctype_digit(trim($headers['retry-after']))
            ? (int) trim($headers['retry-after']) : null;
        $r->data = isset($xml->data) ? $xml->data : null;
        $r->body = $body;
        return $r;
    }

    private static function load(string $body): ?SimpleXMLElement
    {
        if (trim($body) === '') {
            return null;
        }
        $previous = libxml_use_internal_errors(true);
        $xml = simplexml_load_string($body, 'SimpleXMLElement', LIBXML_NONET);
        libxml_clear_errors();
        libxml_use_internal_errors($previous);
        return $xml === false ? null : $xml;
    }
}

/** Attribute and text helpers for the typed results. */
final class RegwayXml
{
    public static function attr(SimpleXMLElement $e, string $name): ?string
    {
        $v = $e[$name];
        return $v === null ? null : (string) $v;
    }

    public static function bool(SimpleXMLElement $e, string $name): bool
    {
        return self::attr($e, $name) === 'true';
    }

    public static function text(?SimpleXMLElement $parent, string $name): ?string
    {
        if ($parent === null || !isset($parent->{$name})) {
            return null;
        }
        return (string) $parent->{$name};
    }
}

/** balance.get */
final class RegwayBalance
{
    /** @var string */
    public $balance;
    /** @var string */
    public $creditLimit;
    /** @var string what can still be spent: balance + credit limit */
    public $available;
    /** @var string ISO 4217 */
    public $currency;

    public static function fromData(SimpleXMLElement $data): RegwayBalance
    {
        $b = new RegwayBalance();
        $b->balance = (string) $data->balance;
        $b->creditLimit = (string) $data->{'credit-limit'};
        $b->available = (string) $data->available;
        $b->currency = (string) $data->balance['currency'];
        return $b;
    }
}

/** One name of domain.check. */
final class RegwayCheck
{
    /** @var string ASCII form */
    public $name;
    /** @var string|null */
    public $unicode;
    /** @var bool */
    public $available;
    /** @var string|null registration price for the zone's shortest period */
    public $price;
    /** @var string|null */
    public $currency;
    /** @var string|null why not available */
    public $reason;

    public static function fromElement(SimpleXMLElement $e): RegwayCheck
    {
        $c = new RegwayCheck();
        $c->name = (string) $e['name'];
        $c->unicode = RegwayXml::attr($e, 'unicode');
        $c->available = RegwayXml::bool($e, 'available');
        $c->price = RegwayXml::attr($e, 'price');
        $c->currency = RegwayXml::attr($e, 'currency');
        $c->reason = RegwayXml::attr($e, 'reason');
        return $c;
    }
}

/** A domain as domain.info, domain.list and the order answers show it (the short form has name, expires and state only). */
final class RegwayDomain
{
    /** @var string */
    public $name;
    /** @var string|null */
    public $unicode;
    /** @var string|null client handle */
    public $client;
    /** @var string active | expired */
    public $state;
    /** @var string|null */
    public $created;
    /** @var string|null YYYY-MM-DD */
    public $expires;
    /** @var bool */
    public $delegated = false;
    /** @var bool */
    public $autoRenew = false;
    /** @var string[] "host" or "host ip" */
    public $ns = [];

    public static function fromElement(SimpleXMLElement $e): RegwayDomain
    {
        $d = new RegwayDomain();
        $d->name = (string) $e['name'];
        $d->unicode = RegwayXml::attr($e, 'unicode');
        $d->client = RegwayXml::attr($e, 'client');
        $d->state = (string) $e['state'];
        $d->created = RegwayXml::attr($e, 'created');
        $d->expires = RegwayXml::attr($e, 'expires');
        $d->delegated = RegwayXml::bool($e, 'delegated');
        $d->autoRenew = RegwayXml::bool($e, 'auto-renew');
        foreach ($e->ns as $ns) {
            $d->ns[] = (string) $ns;
        }
        return $d;
    }
}

/** A client (registrant). */
final class RegwayContact
{
    /** @var string handle, like 1000/RW-P */
    public $id;
    /** @var string person | org */
    public $type;
    /** @var string */
    public $created;
    /** @var string|null */
    public $deleted;
    /** @var string */
    public $name;
    /** @var string */
    public $email;
    /** @var string */
    public $phone;
    /** @var string */
    public $country;
    /** @var string */
    public $address;
    /** @var array<string,string> x- fields */
    public $extra = [];

    public static function fromElement(SimpleXMLElement $e): RegwayContact
    {
        $c = new RegwayContact();
        $c->id = (string) $e['id'];
        $c->type = (string) $e['type'];
        $c->created = (string) $e['created'];
        $c->deleted = RegwayXml::attr($e, 'deleted');
        $c->name = (string) $e->name;
        $c->email = (string) $e->email;
        $c->phone = (string) $e->phone;
        $c->country = (string) $e->country;
        $c->address = (string) $e->address;
        foreach ($e->extra as $x) {
            $c->extra[(string) $x['name']] = (string) $x;
        }
        return $c;
    }
}

/** An order, as order.info and order.list show it. */
final class RegwayOrder
{
    /** @var string */
    public $id;
    /** @var string domain.register, domain.renew, domain.set-ns, license.order, license.renew, license.set-ip */
    public $command;
    /** @var string|null */
    public $domain;
    /** @var string|null licence id, for licence orders */
    public $license;
    /** @var string accepted | submitted | completed | failed | unknown */
    public $state;
    /** @var string */
    public $amount;
    /** @var string */
    public $currency;
    /** @var string|null */
    public $requestId;
    /** @var string */
    public $created;
    /** @var string */
    public $updated;
    /** @var string|null */
    public $reason;
    /** @var array<int,array{state:string,at:string}> */
    public $transitions = [];

    public function isFinal(): bool
    {
        return $this->state === 'completed' || $this->state === 'failed';
    }

    public static function fromElement(SimpleXMLElement $e): RegwayOrder
    {
        $o = new RegwayOrder();
        $o->id = (string) $e['id'];
        $o->command = (string) $e['command'];
        $o->domain = RegwayXml::attr($e, 'domain');
        $o->license = RegwayXml::attr($e, 'license');
        $o->state = (string) $e['state'];
        $o->amount = (string) $e['amount'];
        $o->currency = (string) $e['currency'];
        $o->requestId = RegwayXml::attr($e, 'request-id');
        $o->created = (string) $e['created'];
        $o->updated = (string) $e['updated'];
        $o->reason = RegwayXml::attr($e, 'reason');
        foreach ($e->transition as $t) {
            $o->transitions[] = ['state' => (string) $t['state'], 'at' => (string) $t['at']];
        }
        return $o;
    }
}

/** A software licence. */
final class RegwayLicense
{
    /** @var string */
    public $id;
    /** @var string */
    public $product;
    /** @var string month | year */
    public $period;
    /** @var string */
    public $ip;
    /** @var string */
    public $client;
    /** @var string active | suspended | expired */
    public $state;
    /** @var string */
    public $created;
    /** @var string */
    public $expires;
    /** @var bool */
    public $autoRenew;

    public static function fromElement(SimpleXMLElement $e): RegwayLicense
    {
        $l = new RegwayLicense();
        $l->id = (string) $e['id'];
        $l->product = (string) $e['product'];
        $l->period = (string) $e['period'];
        $l->ip = (string) $e['ip'];
        $l->client = (string) $e['client'];
        $l->state = (string) $e['state'];
        $l->created = (string) $e['created'];
        $l->expires = (string) $e['expires'];
        $l->autoRenew = RegwayXml::bool($e, 'auto-renew');
        return $l;
    }
}

/** One entry of ledger.list. */
final class RegwayLedgerEntry
{
    /** @var string */
    public $id;
    /** @var string */
    public $time;
    /** @var string topup | charge | refund | adjustment | commission | withdrawal */
    public $kind;
    /** @var string signed */
    public $amount;
    /** @var string */
    public $balanceAfter;
    /** @var string */
    public $currency;
    /** @var string|null */
    public $order;
    /** @var string|null */
    public $note;

    public static function fromElement(SimpleXMLElement $e): RegwayLedgerEntry
    {
        $l = new RegwayLedgerEntry();
        $l->id = (string) $e['id'];
        $l->time = (string) $e['time'];
        $l->kind = (string) $e['kind'];
        $l->amount = (string) $e['amount'];
        $l->balanceAfter = (string) $e['balance-after'];
        $l->currency = (string) $e['currency'];
        $l->order = RegwayXml::attr($e, 'order');
        $l->note = RegwayXml::attr($e, 'note');
        return $l;
    }
}

/**
 * The answer of an order command (domain.register, domain.renew, domain.set-ns and the
 * licence orders): completed (1000) or pending (1001, `pending` true, `order` the full
 * order as it stands).
 */
final class RegwayOrderResult
{
    /** @var bool */
    public $pending;
    /** @var string|null */
    public $orderId;
    /** @var string|null */
    public $orderState;
    /** @var RegwayOrder|null the full order, when pending */
    public $order;
    /** @var RegwayDomain|null */
    public $domain;
    /** @var RegwayLicense|null */
    public $license;
    /** @var string|null */
    public $charged;
    /** @var string|null balance right after the charge */
    public $balance;
    /** @var string|null */
    public $currency;
    /** @var RegwayResponse */
    public $response;

    public static function fromResponse(RegwayResponse $r): RegwayOrderResult
    {
        $o = new RegwayOrderResult();
        $o->response = $r;
        $o->pending = $r->isPending();
        $data = $r->data;
        if ($data === null) {
            return $o;
        }
        if (isset($data->order)) {
            $e = $data->order;
            $o->orderId = (string) $e['id'];
            $o->orderState = (string) $e['state'];
            if (isset($e['command'])) {
                $o->order = RegwayOrder::fromElement($e);
            }
        }
        if (isset($data->domain)) {
            $o->domain = RegwayDomain::fromElement($data->domain);
        }
        if (isset($data->license)) {
            $o->license = RegwayLicense::fromElement($data->license);
        }
        if (isset($data->charged)) {
            $o->charged = (string) $data->charged;
            $o->currency = (string) $data->charged['currency'];
        }
        if (isset($data->balance)) {
            $o->balance = (string) $data->balance;
        }
        return $o;
    }
}

/** request.status: what became of an earlier request. */
final class RegwayRequestStatus
{
    /** @var string */
    public $requestId;
    /** @var string */
    public $command;
    /** @var string pending | done */
    public $state;
    /** @var string|null */
    public $order;
    /** @var RegwayResponse the stored answer (or, while pending, a 1001 with the order as it stands) */
    public $response;

    public function isDone(): bool
    {
        return $this->state === 'done';
    }
}

/** The client. One instance per gateway and partner login; not shared between processes. */
final class RegwayClient
{
    const VERSION = '1.0.0';

    /** @var string */
    private $url;
    /** @var string */
    private $login;
    /** @var string */
    private $password;
    /** @var array<string,mixed> */
    private $options;

    /**
     * @param string $url the gateway's API endpoint (`https://host/api`; a bare
     *        `https://host` gets `/api`)
     * @param array<string,mixed> $options
     *   - timeout (30): seconds for one HTTP exchange
     *   - connect_timeout (10)
     *   - retries (4): extra attempts after a transport failure, a 2502 or a 2400 that did nothing
     *   - backoff (0.5): seconds before the first retry; doubled each time, with jitter
     *   - max_backoff (30)
     *   - deadline (120): seconds one call may take with all its retries
     *   - poll_interval (1.0), poll_max_interval (30): waitFor()'s polling
     *   - on_retry: callable(int $attempt, string $reason, float $delay), called before each wait
     *   - on_answer: callable(string $command, string $requestBody, ?RegwayResponse $answer,
     *     ?RegwayTransportError $error), called after every HTTP exchange (for logging;
     *     the body carries no credentials: they go in the Authorization header)
     *   - user_agent
     */
    public function __construct(string $url, string $login, string $password, array $options = [])
    {
        $parts = parse_url($url);
        if ($parts === false || !isset($parts['scheme'], $parts['host'])
            || !in_array(strtolower($parts['scheme']), ['http', 'https'], true)) {
            throw new InvalidArgumentException('regway: the URL must be http:// or https://');
        }
        if (!isset($parts['path']) || $parts['path'] === '' || $parts['path'] === '/') {
            $url = rtrim($url, '/') . '/api';
        }
        $this->url = $url;
        $this->login = $login;
        $this->password = $password;
        $this->options = $options + [
            'timeout' => 30,
            'connect_timeout' => 10,
            'retries' => 4,
            'backoff' => 0.5,
            'max_backoff' => 30.0,
            'deadline' => 120.0,
            'poll_interval' => 1.0,
            'poll_max_interval' => 30.0,
            'on_retry' => null,
            'on_answer' => null,
            'user_agent' => 'regway-php/' . self::VERSION,
        ];
    }

    /**
     * A request-id built from a panel's own stable ids: `requestId('bm', 117, 'open')` is
     * `bm-117-open`. Parts are joined with `-`; when the result has a character the
     * protocol does not allow (`A-Z a-z 0-9 . _ : -`) or is longer than 64, it is
     * `h-` and 62 hexadecimal digits of its SHA-256 instead, so the same parts always
     * give the same request-id.
     *
     * @param string|int ...$parts
     */
    public static function requestId(...$parts): string
    {
        if (count($parts) === 0) {
            throw new InvalidArgumentException('regway: a request-id needs at least one part');
        }
        $id = implode('-', array_map('strval', $parts));
        if ($id !== '' && strlen($id) <= 64 && preg_match('/^[A-Za-z0-9._:-]+$/', $id) === 1) {
            return $id;
        }
        return 'h-' . substr(hash('sha256', $id), 0, 62);
    }

    /**
     * Sends a command and returns the answer whatever its code, after the retries
     * (transport failures, 2502, a 2400 with HTTP 500/504). Throws RegwayTransportError
     * when no answer came.
     *
     * @param array<string,string|int|bool|array<int,string>> $params an array value is a repeated parameter
     */
    public function send(string $command, array $params = []): RegwayResponse
    {
        $body = self::encode(['command' => $command] + $params);
        $requestId = isset($params['request-id']) ? (string) $params['request-id'] : null;
        $start = microtime(true);
        $attempt = 0;
        while (true) {
            $attempt++;
            try {
                $r = $this->exchange($body);
                $e = null;
                if (is_callable($this->options['on_answer'])) {
                    call_user_func($this->options['on_answer'], $command, $body, $r, null);
                }
                if ($r->code === 2502) {
                    $reason = 'rate limited (2502)';
                } elseif ($r->code === 2400 && ($r->httpStatus === 500 || $r->httpStatus === 504)) {
                    $reason = 'command failed, nothing done (2400, HTTP ' . $r->httpStatus . ')';
                } else {
                    return $r;
                }
            } catch (RegwayTransportError $t) {
                $r = null;
                $e = $t;
                $e->requestId = $requestId;
                $reason = $t->getMessage();
                if (is_callable($this->options['on_answer'])) {
                    call_user_func($this->options['on_answer'], $command, $body, null, $t);
                }
            }
            if ($attempt > (int) $this->options['retries']) {
                break;
            }
            $delay = min(
                (float) $this->options['max_backoff'],
                (float) $this->options['backoff'] * (2 ** ($attempt - 1))
            );
            $delay *= 0.5 + mt_rand() / mt_getrandmax() / 2;
            if ($r !== null && $r->retryAfter !== null) {
                $delay = max($delay, (float) $r->retryAfter);
            }
            if (microtime(true) - $start + $delay > (float) $this->options['deadline']) {
                break;
            }
            if (is_callable($this->options['on_retry'])) {
                call_user_func($this->options['on_retry'], $attempt, $reason, $delay);
            }
            usleep((int) ($delay * 1e6));
        }
        if ($r !== null) {
            return $r;
        }
        throw $e;
    }

    /**
     * Sends a command; throws the typed RegwayError for result codes 2000 and above.
     * A pending answer (1001) is returned, not thrown.
     *
     * @param array<string,string|int|bool|array<int,string>> $params
     */
    public function call(string $command, array $params = []): RegwayResponse
    {
        $r = $this->send($command, $params);
        if ($r->code >= 2000) {
            throw RegwayError::fromResponse($r);
        }
        return $r;
    }

    public function balance(): RegwayBalance
    {
        return RegwayBalance::fromData($this->data($this->call('balance.get')));
    }

    /**
     * @param string[] $names 1 to 50
     * @return RegwayCheck[]
     */
    public function domainCheck(array $names): array
    {
        $out = [];
        foreach ($this->data($this->call('domain.check', ['domain' => array_values($names)]))->domain as $e) {
            $out[] = RegwayCheck::fromElement($e);
        }
        return $out;
    }

    /**
     * @param array<string,string> $fields type, name, email, phone, country, address, and x-… fields
     */
    public function clientCreate(string $requestId, array $fields): RegwayContact
    {
        $r = $this->call('client.create', ['request-id' => $requestId] + $fields);
        return RegwayContact::fromElement($this->data($r)->client);
    }

    public function clientInfo(string $handle): RegwayContact
    {
        return RegwayContact::fromElement($this->data($this->call('client.info', ['client' => $handle]))->client);
    }

    /**
     * @param string[] $ns "host" or "host ip"; none, or 2 to 13
     */
    public function domainRegister(
        string $requestId,
        string $domain,
        string $client,
        int $period = 1,
        array $ns = [],
        bool $autoRenew = false
    ): RegwayOrderResult {
        $params = [
            'request-id' => $requestId,
            'domain' => $domain,
            'period' => $period,
            'client' => $client,
            'auto-renew' => $autoRenew,
        ];
        if (count($ns) > 0) {
            $params['ns'] = array_values($ns);
        }
        return RegwayOrderResult::fromResponse($this->call('domain.register', $params));
    }

    /** @param string $expires the domain's current expiry date, YYYY-MM-DD */
    public function domainRenew(string $requestId, string $domain, string $expires, int $period = 1): RegwayOrderResult
    {
        return RegwayOrderResult::fromResponse($this->call('domain.renew', [
            'request-id' => $requestId,
            'domain' => $domain,
            'period' => $period,
            'expires' => $expires,
        ]));
    }

    /** @param string[] $ns 2 to 13, "host" or "host ip" */
    public function domainSetNs(string $requestId, string $domain, array $ns): RegwayOrderResult
    {
        return RegwayOrderResult::fromResponse($this->call('domain.set-ns', [
            'request-id' => $requestId,
            'domain' => $domain,
            'ns' => array_values($ns),
        ]));
    }

    public function domainSetAutoRenew(string $requestId, string $domain, bool $autoRenew): RegwayDomain
    {
        $r = $this->call('domain.set-autorenew', [
            'request-id' => $requestId,
            'domain' => $domain,
            'auto-renew' => $autoRenew,
        ]);
        return RegwayDomain::fromElement($this->data($r)->domain);
    }

    public function domainInfo(string $domain): RegwayDomain
    {
        return RegwayDomain::fromElement($this->data($this->call('domain.info', ['domain' => $domain]))->domain);
    }

    /** One order, by its id or by the request-id that placed it. */
    public function orderInfo(?string $order, ?string $requestId = null): RegwayOrder
    {
        $params = $order !== null ? ['order' => $order] : ['request-id' => (string) $requestId];
        return RegwayOrder::fromElement($this->data($this->call('order.info', $params))->order);
    }

    public function requestStatus(string $requestId): RegwayRequestStatus
    {
        $r = $this->call('request.status', ['request-id' => $requestId]);
        $data = $this->data($r);
        $s = new RegwayRequestStatus();
        $s->requestId = (string) $data->request['request-id'];
        $s->command = (string) $data->request['command'];
        $s->state = (string) $data->request['state'];
        $s->order = RegwayXml::attr($data->request, 'order');
        $s->response = RegwayResponse::fromElement($data->response, $data->response->asXML(), $r->httpStatus);
        return $s;
    }

    public function licenseOrder(
        string $requestId,
        string $product,
        string $period,
        string $ip,
        string $client,
        bool $autoRenew = false
    ): RegwayOrderResult {
        return RegwayOrderResult::fromResponse($this->call('license.order', [
            'request-id' => $requestId,
            'product' => $product,
            'period' => $period,
            'ip' => $ip,
            'client' => $client,
            'auto-renew' => $autoRenew,
        ]));
    }

    public function licenseRenew(string $requestId, string $license, string $period, string $expires): RegwayOrderResult
    {
        return RegwayOrderResult::fromResponse($this->call('license.renew', [
            'request-id' => $requestId,
            'license' => $license,
            'period' => $period,
            'expires' => $expires,
        ]));
    }

    public function licenseSetIp(string $requestId, string $license, string $ip): RegwayOrderResult
    {
        return RegwayOrderResult::fromResponse($this->call('license.set-ip', [
            'request-id' => $requestId,
            'license' => $license,
            'ip' => $ip,
        ]));
    }

    public function licenseInfo(string $license): RegwayLicense
    {
        return RegwayLicense::fromElement($this->data($this->call('license.info', ['license' => $license]))->license);
    }

    /**
     * Waits for the final answer of an earlier request: polls request.status, starting
     * after `poll_interval` seconds and backing off by half again each time up to
     * `poll_max_interval`, until the request is done or `$deadline` seconds have passed
     * (RegwayPendingError, temporary: ask again later). The final answer is returned
     * like call() returns one: result codes of 2000 and above are thrown.
     */
    public function waitFor(string $requestId, float $deadline = 600.0): RegwayResponse
    {
        $start = microtime(true);
        $interval = (float) $this->options['poll_interval'];
        while (true) {
            $status = $this->requestStatus($requestId);
            if ($status->isDone()) {
                if ($status->response->code >= 2000) {
                    throw RegwayError::fromResponse($status->response);
                }
                return $status->response;
            }
            $left = $deadline - (microtime(true) - $start);
            if ($left <= 0) {
                throw new RegwayPendingError(
                    'the order for request-id ' . $requestId . ' is still pending',
                    1001,
                    $status->response->httpStatus,
                    $requestId,
                    $status->response
                );
            }
            usleep((int) (min($interval, $left) * 1e6));
            $interval = min($interval * 1.5, (float) $this->options['poll_max_interval']);
        }
    }

    /**
     * The rows of a paged listing, following next-cursor to the end.
     *
     * @param array<string,string> $filters
     * @return Generator<int,SimpleXMLElement>
     */
    public function pages(string $command, string $row, array $filters = [], int $pageSize = 100): Generator
    {
        $cursor = null;
        do {
            $params = $filters + ['limit' => $pageSize];
            if ($cursor !== null) {
                $params['cursor'] = $cursor;
            }
            $r = $this->call($command, $params);
            $cursor = null;
            if ($r->data !== null) {
                foreach ($r->data->{$row} as $e) {
                    yield $e;
                }
                $cursor = RegwayXml::text($r->data, 'next-cursor');
            }
        } while ($cursor !== null);
    }

    /**
     * @param array<string,string> $filters match, client, state, auto-renew
     * @return Generator<int,RegwayDomain>
     */
    public function domains(array $filters = [], int $pageSize = 100): Generator
    {
        foreach ($this->pages('domain.list', 'domain', $filters, $pageSize) as $e) {
            yield RegwayDomain::fromElement($e);
        }
    }

    /** @return Generator<int,RegwayContact> */
    public function clients(array $filters = [], int $pageSize = 100): Generator
    {
        foreach ($this->pages('client.list', 'client', $filters, $pageSize) as $e) {
            yield RegwayContact::fromElement($e);
        }
    }

    /** @return Generator<int,RegwayOrder> newest first */
    public function orders(array $filters = [], int $pageSize = 100): Generator
    {
        foreach ($this->pages('order.list', 'order', $filters, $pageSize) as $e) {
            yield RegwayOrder::fromElement($e);
        }
    }

    /** @return Generator<int,RegwayLedgerEntry> newest first */
    public function ledger(int $pageSize = 100): Generator
    {
        foreach ($this->pages('ledger.list', 'entry', [], $pageSize) as $e) {
            yield RegwayLedgerEntry::fromElement($e);
        }
    }

    /** @return Generator<int,RegwayLicense> */
    public function licenses(array $filters = [], int $pageSize = 100): Generator
    {
        foreach ($this->pages('license.list', 'license', $filters, $pageSize) as $e) {
            yield RegwayLicense::fromElement($e);
        }
    }

    private function data(RegwayResponse $r): SimpleXMLElement
    {
        if ($r->data === null) {
            throw new RegwayTransportError('the answer to a ' . $r->code . ' has no data', 0, $r->httpStatus, $r->requestId, $r);
        }
        return $r->data;
    }

    /** @param array<string,mixed> $params */
    private static function encode(array $params): string
    {
        $pairs = [];
        foreach ($params as $key => $value) {
            foreach (is_array($value) ? $value : [$value] as $v) {
                if (is_bool($v)) {
                    $v = $v ? 'true' : 'false';
                }
                $pairs[] = rawurlencode((string) $key) . '=' . rawurlencode((string) $v);
            }
        }
        return implode('&', $pairs);
    }

    /** One HTTP exchange; a failure to get a regway answer is a RegwayTransportError. */
    private function exchange(string $body): RegwayResponse
    {
        $headers = [];
        $ch = curl_init($this->url);
        if ($ch === false) {
            throw new RegwayTransportError('curl could not be initialised', 0);
        }
        curl_setopt_array($ch, [
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => $body,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_HTTPAUTH => CURLAUTH_BASIC,
            CURLOPT_USERPWD => $this->login . ':' . $this->password,
            CURLOPT_HTTPHEADER => [
                'Content-Type: application/x-www-form-urlencoded',
                'Accept: application/xml',
                'Expect:',
            ],
            CURLOPT_USERAGENT => (string) $this->options['user_agent'],
            CURLOPT_TIMEOUT_MS => (int) ((float) $this->options['timeout'] * 1000),
            CURLOPT_CONNECTTIMEOUT_MS => (int) ((float) $this->options['connect_timeout'] * 1000),
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_HEADERFUNCTION => function ($ch, string $line) use (&$headers): int {
                $colon = strpos($line, ':');
                if ($colon !== false) {
                    $headers[strtolower(trim(substr($line, 0, $colon)))] = trim(substr($line, $colon + 1));
                }
                return strlen($line);
            },
        ]);
        $answer = curl_exec($ch);
        $errno = curl_errno($ch);
        $error = curl_error($ch);
        $status = (int) curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
        curl_close($ch);
        if ($answer === false || $errno !== 0) {
            throw new RegwayTransportError('could not reach the gateway (curl error ' . $errno . ': ' . $error . ')', 0);
        }
        return RegwayResponse::parse((string) $answer, $status, $headers);
    }
}
