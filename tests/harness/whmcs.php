<?php
// Calls one function of the WHMCS registrar module the way WHMCS does, under a minimal
// bootstrap (tests/panels.rs): WHMCS defined, logModuleCall recorded, localAPI answering
// GetClientsDomains from the input, WHMCS's domain lookup classes as small stand-ins.
// stdin: {"function": "RegisterDomain", "params": {...}, "expirydate": "YYYY-MM-DD"|null}
// stdout: {"result": ..., "log": [[module, action, request, response, processed, masked], ...]}
declare(strict_types=1);

namespace WHMCS\Domains\DomainLookup {
    class SearchResult
    {
        const STATUS_NOT_REGISTERED = 'available for registration';
        const STATUS_REGISTERED = 'registered';
        const STATUS_RESERVED = 'reserved';
        const STATUS_TLD_NOT_SUPPORTED = 'invalid tld';
        const STATUS_UNKNOWN = 'unknown';
        public $sld;
        public $tld;
        public $status = self::STATUS_UNKNOWN;
        public function __construct($sld, $tld)
        {
            $this->sld = $sld;
            $this->tld = $tld;
        }
        public function setStatus($status)
        {
            $this->status = $status;
        }
    }
    class ResultsList extends \ArrayObject
    {
    }
}

namespace {
    define('WHMCS', true);

    $GLOBALS['regway_test_log'] = [];
    $input = json_decode((string) stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);

    function logModuleCall($module, $action, $request, $response, $data = '', $variablesToMask = [])
    {
        $GLOBALS['regway_test_log'][] = [$module, $action, $request, $response, $data, $variablesToMask];
    }

    function localAPI($command, $values, $adminUser = '')
    {
        global $input;
        if ($command !== 'GetClientsDomains' || ($input['expirydate'] ?? null) === null) {
            return ['result' => 'error', 'message' => 'not available in this test'];
        }
        return ['result' => 'success', 'domains' => ['domain' => [[
            'id' => $values['domainid'],
            'expirydate' => $input['expirydate'],
        ]]]];
    }

    require_once $argv[1];

    $result = call_user_func('regway_' . $input['function'], $input['params']);
    if ($result instanceof \WHMCS\Domains\DomainLookup\ResultsList) {
        $rows = [];
        foreach ($result as $r) {
            $rows[] = ['sld' => $r->sld, 'tld' => $r->tld, 'status' => $r->status];
        }
        $result = ['lookup' => $rows];
    }
    echo json_encode(['result' => $result, 'log' => $GLOBALS['regway_test_log']], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), "\n";
}
