#!/bin/sh
# Copies the PHP client (clients/php/regway.php) into the panel modules' install layouts.
# Run it after changing the client; tests/clients.rs fails while a copy differs.
set -eu
cd "$(dirname "$0")/.."
cp clients/php/regway.php integrations/billmanager/processing/regway/regway.php
cp clients/php/regway.php integrations/whmcs/modules/registrars/regway/regway-client.php
