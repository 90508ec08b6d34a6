<?php
// The PHP client (clients/php/regway.php) against real gateways (tests/clients.rs).
// stdin: {"plain": url, "lossy": url, "pending": url, "limited": url}; stdout: one JSON
// object with what each scenario saw. The Rust test checks it and the gateways' state.
declare(strict_types=1);

require_once $argv[1];

$urls = json_decode((string) stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);
$out = [];
const PASSWORD = 'demo-password';

function contact(RegwayClient $rw, string $rid): RegwayContact
{
    return $rw->clientCreate($rid, [
        'type' => 'person',
        'name' => 'Ivan Petrov',
        'email' => 'ivan@example.net',
        'phone' => '+7.4951234567',
        'country' => 'RU',
        'address' => 'Moscow',
    ]);
}

// Lost answers: the proxy loses the first two answers to LOST- requests; the retries replay.
$retries = 0;
$rw = new RegwayClient($urls['lossy'], 'demo', PASSWORD, [
    'backoff' => 0.05,
    'on_retry' => function () use (&$retries) {
        $retries++;
    },
]);
$holder = contact($rw, 'C-LOST');
$r = $rw->domainRegister('LOST-R1', 'lost-answer.ru', $holder->id, 1, ['ns1.hosting.net', 'ns2.hosting.net']);
$out['lost'] = [
    'replayed' => $r->response->replayed,
    'pending' => $r->pending,
    'retries' => $retries,
    'order' => $r->orderId,
    'state' => $r->orderState,
    'charged' => $r->charged,
    'expires' => $r->domain !== null ? $r->domain->expires : null,
];

// Pending then completed: waitFor polls request.status until the final answer.
$rw = new RegwayClient($urls['pending'], 'demo', PASSWORD, ['poll_interval' => 0.2]);
$holder = contact($rw, 'C-PEND');
$r = $rw->domainRegister('PEND-R1', 'pending-order.ru', $holder->id);
$first = ['pending' => $r->pending, 'state' => $r->order !== null ? $r->order->state : null];
try {
    $rw->waitFor('PEND-R1', 0.3);
    $short = 'answered';
} catch (RegwayPendingError $e) {
    $short = ['code' => $e->getCode(), 'temporary' => $e->isTemporary()];
}
$start = microtime(true);
$final = $rw->waitFor('PEND-R1', 30);
$done = RegwayOrderResult::fromResponse($final);
$out['pending'] = [
    'first' => $first,
    'short_deadline' => $short,
    'final_code' => $final->code,
    'final_state' => $done->orderState,
    'expires' => $done->domain !== null ? $done->domain->expires : null,
    'waited' => round(microtime(true) - $start, 2),
    'order_state' => $rw->orderInfo(null, 'PEND-R1')->state,
];

// Rate limits: 2502 with Retry-After, waited out, then carried out.
$delays = [];
$rw = new RegwayClient($urls['limited'], 'demo', PASSWORD, [
    'retries' => 6,
    'on_retry' => function (int $attempt, string $reason, float $delay) use (&$delays) {
        if (strpos($reason, 'rate limited') === 0) {
            $delays[] = $delay;
        }
    },
]);
$handles = [];
for ($n = 0; $n < 5; $n++) {
    $handles[] = contact($rw, 'C-RATE-' . $n)->id;
}
$out['limited'] = [
    'created' => count(array_unique($handles)),
    'rate_limited_retries' => count($delays),
    'min_delay' => count($delays) > 0 ? min($delays) : null,
];

// Paging: every domain once, in order, page by page.
$rw = new RegwayClient($urls['plain'], 'demo', PASSWORD);
$names = [];
foreach ($rw->domains(['match' => 'page-'], 100) as $d) {
    $names[] = $d->name;
}
$sorted = $names;
sort($sorted, SORT_STRING);
$entries = 0;
foreach ($rw->ledger(64) as $entry) {
    $entries++;
}
$out['paging'] = [
    'count' => count($names),
    'unique' => count(array_unique($names)),
    'sorted' => $names === $sorted,
    'first' => $names[0],
    'last' => $names[count($names) - 1],
    'ledger' => $entries,
];

// Typed errors and request-ids.
$errors = [];
try {
    (new RegwayClient($urls['plain'], 'demo', 'wrong-password'))->balance();
} catch (RegwayAuthError $e) {
    $errors['auth'] = [$e->getCode(), $e->httpStatus, $e->getMessage(), $e->isTemporary(), $e->object];
}
try {
    $rw->domainInfo('never-registered.ru');
} catch (RegwayNotFoundError $e) {
    $errors['not_found'] = [$e->getCode(), $e->httpStatus, $e->getMessage(), $e->object];
}
try {
    $rw->orderInfo('999999');
} catch (RegwayNotFoundError $e) {
    $errors['no_order'] = [$e->getCode(), $e->httpStatus, $e->getMessage(), $e->object];
}
try {
    $rw->orderInfo(null, 'NEVER-SENT-1');
} catch (RegwayNotFoundError $e) {
    $errors['no_order_for_request'] = [$e->getCode(), $e->httpStatus, $e->getMessage(), $e->object];
}
try {
    $rw->requestStatus('NEVER-SENT-2');
} catch (RegwayNotFoundError $e) {
    $errors['no_request'] = [$e->getCode(), $e->httpStatus, $e->getMessage(), $e->object];
}
try {
    $rw->domainRenew('REN-1', 'page-000.ru', '2030-01-15');
} catch (RegwayConflictError $e) {
    $errors['conflict'] = [$e->getCode(), $e->httpStatus, $e->object];
}
try {
    (new RegwayClient('http://127.0.0.1:9', 'demo', PASSWORD, ['retries' => 1, 'backoff' => 0.01]))->balance();
} catch (RegwayTransportError $e) {
    $errors['transport'] = [$e->getCode(), $e->isTemporary(), $e->object];
}
$out['errors'] = $errors;
$out['request_ids'] = [
    RegwayClient::requestId('bm', 117, 'open'),
    RegwayClient::requestId('whmcs', 42, 'renew', '2027-01-15'),
    RegwayClient::requestId('panel', 'invoice 117'),
];
$b = $rw->balance();
$out['balance'] = [$b->balance, $b->currency];

echo json_encode($out, JSON_UNESCAPED_SLASHES), "\n";
