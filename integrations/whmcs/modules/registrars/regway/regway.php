<?php
/**
 * regway registrar module for WHMCS: domains through a regway gateway's native protocol.
 *
 * Installed as <whmcs>/modules/registrars/regway/ with regway-client.php beside it
 * (integrations/README.md). Function names, parameters and return shapes follow WHMCS's
 * sample registrar module; errors are returned as ['error' => …].
 *
 * Request-ids come from WHMCS's stable ids, so that an action run again replays at the
 * gateway instead of charging twice: `whmcs-DOMAINID-reg`, `whmcs-DOMAINID-renew-EXPIRES`,
 * `whmcs-DOMAINID-ns-HASH`, and `whmcs-uUSERID-HASH` for the registrant.
 */

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

require_once __DIR__ . '/regway-client.php';

/** Helpers of the module; not module functions, so WHMCS never calls them as actions. */
final class RegwayWhmcs
{
    /** The gateway client for the module's settings, logging every exchange to WHMCS's module log. */
    public static function client(array $params, string $action): RegwayClient
    {
        $url = trim((string) ($params['ApiUrl'] ?? ''));
        $login = trim((string) ($params['Login'] ?? ''));
        $password = (string) ($params['Password'] ?? '');
        if ($url === '' || $login === '') {
            throw new RegwayInputError('the module has no gateway URL or login: see Setup > Domain Registrars', 2003);
        }
        try {
            return new RegwayClient($url, $login, $password, [
                'retries' => 3,
                'deadline' => 60,
                'on_answer' => function (string $command, string $body, ?RegwayResponse $r, ?RegwayTransportError $e) use ($action, $password): void {
                    if (function_exists('logModuleCall')) {
                        logModuleCall(
                            'regway',
                            $action . ' ' . $command,
                            $body,
                            $r !== null ? $r->body : $e->getMessage(),
                            $r !== null ? $r->code . ' ' . $r->message . ($r->replayed ? ' (replayed)' : '') : '',
                            $password === '' ? [] : [$password]
                        );
                    }
                },
            ]);
        } catch (InvalidArgumentException $e) {
            throw new RegwayInputError($e->getMessage(), 2005);
        }
    }

    /** The domain's name as the gateway takes it (sld.tld, Unicode or ASCII). */
    public static function domain(array $params): string
    {
        return trim((string) $params['sld']) . '.' . ltrim(trim((string) $params['tld']), '.');
    }

    /** WHMCS's error shape: the gateway's message and code, never a credential. */
    public static function error(RegwayError $e): array
    {
        $code = $e->getCode();
        if ($code === 0) {
            $text = 'the gateway did not answer (' . $e->getMessage() . '); try again: it will not be charged twice';
        } elseif ($code === 1001) {
            $text = $e->getMessage() . '; run the action again later: it will not be charged twice';
        } else {
            $text = $e->getMessage() . ' (' . $code . ')';
        }
        return ['error' => 'regway: ' . $text];
    }

    /** @return string[] the nameservers WHMCS gave (ns1 … ns5), "host" or "host ip" */
    public static function nameservers(array $params): array
    {
        $ns = [];
        for ($i = 1; $i <= 5; $i++) {
            $v = trim((string) ($params['ns' . $i] ?? ''));
            if ($v !== '') {
                $ns[] = $v;
            }
        }
        return $ns;
    }

    /**
     * Runs a changing command and returns its final answer. A request-id already used
     * with other parameters (2308: the domain changed since the first try) gives the
     * first try's stored answer; a pending order is an error asking to run it again.
     */
    public static function order(RegwayClient $rw, string $rid, callable $send): RegwayResponse
    {
        try {
            $r = $send();
        } catch (RegwayConflictError $e) {
            if ($e->getCode() !== 2308) {
                throw $e;
            }
            $r = $rw->requestStatus($rid)->response;
            if ($r->code >= 2000) {
                throw RegwayError::fromResponse($r);
            }
        }
        if ($r->isPending()) {
            $order = isset($r->data->order) ? (string) $r->data->order['id'] : '?';
            throw new RegwayPendingError(
                'order ' . $order . ' (request-id ' . $rid . ') is still pending at the gateway',
                1001,
                $r->httpStatus,
                $rid,
                $r
            );
        }
        return $r;
    }

    /**
     * The registrant's client handle: a client created from the WHMCS contact under
     * `whmcs-uUSERID-HASH`, so the same contact data always names the same client.
     */
    public static function registrant(RegwayClient $rw, array $params): string
    {
        $company = trim((string) ($params['companyname'] ?? ''));
        $person = trim((string) ($params['fullname'] ?? ''));
        if ($person === '') {
            $person = trim(($params['firstname'] ?? '') . ' ' . ($params['lastname'] ?? ''));
        }
        $phone = trim((string) ($params['fullphonenumber'] ?? ''));
        if ($phone === '') {
            $phone = trim((string) ($params['phonenumber'] ?? ''));
        }
        $address = implode(', ', array_filter(array_map('trim', [
            (string) ($params['address1'] ?? ''),
            (string) ($params['address2'] ?? ''),
            (string) ($params['city'] ?? ''),
            (string) ($params['fullstate'] ?? ($params['state'] ?? '')),
            (string) ($params['postcode'] ?? ''),
        ]), 'strlen'));
        $fields = [
            'type' => $company !== '' ? 'org' : 'person',
            'name' => $company !== '' ? $company : $person,
            'email' => trim((string) ($params['email'] ?? '')),
            'phone' => $phone,
            'country' => strtoupper(trim((string) ($params['countrycode'] ?? ''))),
            'address' => $address,
        ];
        if ($company !== '' && $person !== '') {
            $fields['x-contact-person'] = $person;
        }
        $rid = RegwayClient::requestId(
            'whmcs',
            'u' . (string) ($params['userid'] ?? '0'),
            substr(hash('sha256', (string) json_encode($fields)), 0, 12)
        );
        $r = self::order($rw, $rid, function () use ($rw, $rid, $fields): RegwayResponse {
            return $rw->call('client.create', ['request-id' => $rid] + $fields);
        });
        return (string) $r->data->client['id'];
    }

    /** WHMCS's own expiry date of the domain, when its local API can tell. */
    public static function whmcsExpiry(array $params): ?string
    {
        if (!function_exists('localAPI') || !isset($params['domainid'])) {
            return null;
        }
        $r = localAPI('GetClientsDomains', ['domainid' => $params['domainid']]);
        $date = $r['domains']['domain'][0]['expirydate'] ?? null;
        if (!is_string($date) || preg_match('/^\d{4}-\d{2}-\d{2}$/', $date) !== 1 || $date === '0000-00-00') {
            return null;
        }
        return $date;
    }
}

function regway_MetaData()
{
    return [
        'DisplayName' => 'regway',
        'APIVersion' => '1.1',
    ];
}

function regway_getConfigArray()
{
    return [
        'FriendlyName' => [
            'Type' => 'System',
            'Value' => 'regway',
        ],
        'Description' => [
            'Type' => 'System',
            'Value' => 'Domains through a regway gateway (native protocol)',
        ],
        'ApiUrl' => [
            'FriendlyName' => 'API URL',
            'Type' => 'text',
            'Size' => '60',
            'Default' => '',
            'Description' => 'The gateway\'s API endpoint, for example https://gateway.example.net/api',
        ],
        'Login' => [
            'FriendlyName' => 'Login',
            'Type' => 'text',
            'Size' => '25',
            'Default' => '',
            'Description' => 'Your partner login at the gateway',
        ],
        'Password' => [
            'FriendlyName' => 'Password',
            'Type' => 'password',
            'Size' => '25',
            'Default' => '',
            'Description' => 'Your partner password at the gateway',
        ],
    ];
}

/** domain.register under `whmcs-DOMAINID-reg`, for a registrant made from the order's contact. */
function regway_RegisterDomain($params)
{
    try {
        $rw = RegwayWhmcs::client($params, 'RegisterDomain');
        $client = RegwayWhmcs::registrant($rw, $params);
        $rid = RegwayClient::requestId('whmcs', (string) $params['domainid'], 'reg');
        $request = [
            'request-id' => $rid,
            'domain' => RegwayWhmcs::domain($params),
            'period' => (int) ($params['regperiod'] ?? 1),
            'client' => $client,
        ];
        $ns = RegwayWhmcs::nameservers($params);
        if (count($ns) > 0) {
            $request['ns'] = $ns;
        }
        RegwayWhmcs::order($rw, $rid, function () use ($rw, $request): RegwayResponse {
            return $rw->call('domain.register', $request);
        });
        return ['success' => true];
    } catch (RegwayError $e) {
        return RegwayWhmcs::error($e);
    }
}

/**
 * domain.info, then domain.renew naming the gateway's expiry, under a request-id of the
 * domain id and the expiry WHMCS knows. When the gateway's expiry is already later than
 * WHMCS's (an auto-renewal, or an earlier try whose answer was lost), nothing is renewed
 * again.
 */
function regway_RenewDomain($params)
{
    try {
        $rw = RegwayWhmcs::client($params, 'RenewDomain');
        $name = RegwayWhmcs::domain($params);
        $domain = $rw->domainInfo($name);
        $known = RegwayWhmcs::whmcsExpiry($params);
        $rid = RegwayClient::requestId('whmcs', (string) $params['domainid'], 'renew', $known ?? (string) $domain->expires);
        if ($known !== null && (string) $domain->expires > $known) {
            try {
                $status = $rw->requestStatus($rid);
            } catch (RegwayNotFoundError $none) {
                // Renewed at the gateway already: nothing to do, nothing to charge.
                return ['success' => true];
            }
            if (!$status->isDone()) {
                throw new RegwayPendingError(
                    'the renewal (request-id ' . $rid . ') is still pending at the gateway',
                    1001,
                    $status->response->httpStatus,
                    $rid,
                    $status->response
                );
            }
            if ($status->response->code >= 2000) {
                throw RegwayError::fromResponse($status->response);
            }
            return ['success' => true];
        }
        RegwayWhmcs::order($rw, $rid, function () use ($rw, $rid, $name, $domain, $params): RegwayResponse {
            return $rw->call('domain.renew', [
                'request-id' => $rid,
                'domain' => $name,
                'period' => (int) ($params['regperiod'] ?? 1),
                'expires' => (string) $domain->expires,
            ]);
        });
        return ['success' => true];
    } catch (RegwayError $e) {
        return RegwayWhmcs::error($e);
    }
}

function regway_GetNameservers($params)
{
    try {
        $domain = RegwayWhmcs::client($params, 'GetNameservers')->domainInfo(RegwayWhmcs::domain($params));
        $out = [];
        for ($i = 1; $i <= 5; $i++) {
            $ns = $domain->ns[$i - 1] ?? '';
            $out['ns' . $i] = $ns === '' ? '' : explode(' ', $ns)[0];
        }
        return $out;
    } catch (RegwayError $e) {
        return RegwayWhmcs::error($e);
    }
}

/** domain.set-ns under `whmcs-DOMAINID-ns-HASH`: the same list sent again replays. */
function regway_SaveNameservers($params)
{
    try {
        $rw = RegwayWhmcs::client($params, 'SaveNameservers');
        $ns = RegwayWhmcs::nameservers($params);
        $rid = RegwayClient::requestId(
            'whmcs',
            (string) $params['domainid'],
            'ns',
            substr(hash('sha256', implode("\n", $ns)), 0, 16)
        );
        $name = RegwayWhmcs::domain($params);
        RegwayWhmcs::order($rw, $rid, function () use ($rw, $rid, $name, $ns): RegwayResponse {
            return $rw->call('domain.set-ns', ['request-id' => $rid, 'domain' => $name, 'ns' => $ns]);
        });
        return ['success' => true];
    } catch (RegwayError $e) {
        return RegwayWhmcs::error($e);
    }
}

function regway_Sync($params)
{
    try {
        $rw = RegwayWhmcs::client($params, 'Sync');
        try {
            $domain = $rw->domainInfo(RegwayWhmcs::domain($params));
        } catch (RegwayNotFoundError $e) {
            // A registration still in progress is not "gone".
            $rid = RegwayClient::requestId('whmcs', (string) $params['domainid'], 'reg');
            try {
                $status = $rw->requestStatus($rid);
            } catch (RegwayNotFoundError $none) {
                throw $e;
            }
            if ($status->isDone()) {
                throw $e;
            }
            return ['error' => 'regway: the registration is still pending at the gateway'];
        }
        return [
            'expirydate' => (string) $domain->expires,
            'active' => $domain->state === 'active',
            'expired' => $domain->state === 'expired',
            'transferredAway' => false,
        ];
    } catch (RegwayError $e) {
        return RegwayWhmcs::error($e);
    }
}

/** domain.check for the search term in every TLD WHMCS asks about, as WHMCS's lookup results. */
function regway_CheckAvailability($params)
{
    if (!class_exists('WHMCS\Domains\DomainLookup\ResultsList')
        || !class_exists('WHMCS\Domains\DomainLookup\SearchResult')) {
        return ['error' => 'regway: this WHMCS has no domain lookup classes'];
    }
    try {
        $rw = RegwayWhmcs::client($params, 'CheckAvailability');
        $sld = (string) (!empty($params['isIdnDomain']) && !empty($params['punyCodeSearchTerm'])
            ? $params['punyCodeSearchTerm'] : $params['searchTerm']);
        $tlds = array_values((array) ($params['tldsToInclude'] ?? []));
        $results = new \WHMCS\Domains\DomainLookup\ResultsList();
        foreach (array_chunk($tlds, 50) as $chunk) {
            $names = [];
            foreach ($chunk as $tld) {
                $names[] = $sld . '.' . ltrim((string) $tld, '.');
            }
            foreach ($rw->domainCheck($names) as $i => $check) {
                $result = new \WHMCS\Domains\DomainLookup\SearchResult($sld, (string) $chunk[$i]);
                if ($check->available) {
                    $status = \WHMCS\Domains\DomainLookup\SearchResult::STATUS_NOT_REGISTERED;
                } elseif ($check->price === null) {
                    $status = \WHMCS\Domains\DomainLookup\SearchResult::STATUS_TLD_NOT_SUPPORTED;
                } else {
                    $status = \WHMCS\Domains\DomainLookup\SearchResult::STATUS_REGISTERED;
                }
                $result->setStatus($status);
                $results->append($result);
            }
        }
        return $results;
    } catch (RegwayError $e) {
        return RegwayWhmcs::error($e);
    }
}
