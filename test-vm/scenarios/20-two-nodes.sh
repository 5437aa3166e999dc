#!/bin/sh
# 20 two-nodes: a server and an agent on a private network, ufw on both: install on the server, node add (an agent-only bootstrap token that expires; ufw rules for the cluster's network), bad join files refused on the agent before any change, join, node list shows both Ready, the agent's ufw rules, uninstall on the agent leaves it as found, node remove, uninstall on the server leaves it as found.
# guests: server agent
# timeout: 900
# shellcheck source=test-vm/guest/lib.sh
. "$T/lib.sh"
scenario_begin two-nodes
needs_standin "the guests wait for each other through the stand-in's node records"
SERVER_IP=$(peer_ip server)
AGENT_IP=$(peer_ip agent)
# The guests' network: test-vm/run's, each guest a /24 address in it (guest/entry.sh).
GUEST_NET=10.77.0.0/24

# ufw_on PEER: ufw on, denying what comes in but the test's own marks (port 8000) from PEER, as a customer's rule would be.
ufw_on() {
    run ufw-default-deny ufw default deny incoming
    run ufw-marks-rule ufw allow from "$1" to any port 8000 proto tcp comment test-marks
    run ufw-enable ufw --force enable
    expect_rc ufw-enabled 0
    # ufw fills its own ip6 limit chains on its first reload (our rules cause one): have that done before the snapshot.
    run ufw-reload ufw reload
}

# ufw_has CHECK RULE: 'ufw show added' (in $OUT) lists 'allow RULE', tagged floppies.
ufw_has() {
    check "$1" "ufw lacks 'allow $2'" sh -c "grep -F -- 'allow $2' '$OUT' | grep -q floppies"
}

# json_field FILE KEY: a top-level string field of a join file (sed is enough for our own one-line-per-field JSON).
json_field() {
    sed -n "s/^ *\"$2\": *\"\([^\"]*\)\".*/\1/p" "$1" | head -n1
}

server_side() {
    ufw_on "$AGENT_IP"
    snapshot "$LOGS/before"
    installer install install --yes
    expect_rc install-exit-0 0
    run node-add-dry /usr/local/bin/floppies node add --role agent --address "$SERVER_IP" --out /root/join-agent.json --dry-run
    expect_rc node-add-dry-exit-0 0
    check node-add-dry-writes-nothing "--dry-run wrote the join file" test ! -e /root/join-agent.json
    floppies node-add node add --role agent --address "$SERVER_IP" --out /root/join-agent.json
    expect_rc node-add-exit-0 0
    expect_out node-add-says-next 'join /root/join-agent.json'
    check join-file-mode-600 "the join file is mode $(stat -c %a /root/join-agent.json 2>&1)" test "$(stat -c %a /root/join-agent.json)" = 600
    expect_out node-add-says-expiry 'works until .* 24h from now'
    expect_out node-add-says-ufw "ufw allow from $GUEST_NET to any port 8472 proto udp"
    # Flannel's VXLAN and the kubelet, from every machine of the network: install opened neither.
    run ufw-after-node-add ufw show added
    ufw_has server-ufw-vxlan "from $GUEST_NET to any port 8472 proto udp"
    ufw_has server-ufw-kubelet "from $GUEST_NET to any port 10250 proto tcp"
    check server-ufw-no-etcd "node add for an agent opened etcd's ports" sh -c "! grep -q '2379' '$OUT'"
    check server-ufw-vxlan-not-from-anyone "VXLAN is open to anyone" sh -c "! grep -Eq 'allow 8472' '$OUT'"
    # An agent-only token that the cluster deletes after a day, never the server token.
    server_token=$(cat /var/lib/rancher/k3s/server/token)
    check join-file-not-server-token "the join file holds the server token (which also joins servers, and never expires)" \
        sh -c "! grep -qF -- '${server_token#*::}' /root/join-agent.json"
    check join-file-bootstrap-token "the join file's token is not a bootstrap token (K10<hash>::id.secret)" \
        grep -Eq '"token": "K10[0-9a-f]{64}::[a-z0-9]{6}[.][a-z0-9]{16}"' /root/join-agent.json
    check join-file-expires "the join file has no expires_at" grep -Eq '"expires_at": "[0-9]+"' /root/join-agent.json
    token=$(json_field /root/join-agent.json token)
    check node-add-output-no-token "node add printed the token" sh -c "! grep -rqF -- '${token#*::}' '$LOGS'/*node-add*.out"
    check install-log-no-token "a log under /var/log/floppies holds the token" sh -c "! grep -rqF -- '${token#*::}' /var/log/floppies"
    mark join-file /root/join-agent.json
    rm -f /root/join-agent.json
    if ! wait_mark agent joined 600; then
        fail agent-joined "the agent never said it joined"
    fi
    floppies node-list node list
    expect_rc node-list-exit-0 0
    expect_out node-list-names-agent '^agent +agent +Ready'
    expect_out node-list-names-server '^server +server +Ready'
    run node-list-json /usr/local/bin/floppies --json node list
    check node-list-json-agent-ready "node list --json does not show agent Ready as an agent" \
        sh -c "sed '1d;\$d' '$OUT' | python3 -c 'import json, sys; n = {x[\"name\"]: x for x in json.load(sys.stdin)[\"nodes\"]}; sys.exit(not (n[\"agent\"][\"ready\"] and n[\"agent\"][\"role\"] == \"agent\" and n[\"server\"][\"role\"] == \"server\"))'"
    floppies status-two-nodes status
    expect_rc status-two-nodes-healthy 0
    expect_out status-names-agent 'machine: +agent \(agent, Ready\)'
    # Uninstalling the server while the agent is in its cluster asks first, naming it (no terminal: declined, exit 8).
    floppies uninstall-asks uninstall --keep-data
    expect_rc uninstall-asks-exit-8 8
    expect_out uninstall-asks-names-agent 'agent \(agent, Ready\)'
    check uninstall-declined-changed-nothing "k3s is not running after a declined uninstall" systemctl is-active --quiet floppies-k3s.service
    mark listed
    if ! wait_mark agent uninstalled 400; then
        fail agent-uninstalled "the agent never said it uninstalled"
    fi
    # The agent is no longer needed: it may power off now. (Waiting for
    # 'finished' raced the server's own power-off and could cost 400 s.)
    mark released
    run node-remove-dry /usr/local/bin/floppies node remove agent --dry-run
    expect_rc node-remove-dry-exit-0 0
    check node-remove-dry-keeps-node "--dry-run removed the node" sh -c "/usr/local/bin/floppies node list | grep -q '^agent '"
    floppies node-remove node remove agent
    expect_rc node-remove-exit-0 0
    floppies node-list-after node list
    check node-list-without-agent "node list still shows the agent" sh -c "! grep -q '^agent ' '$OUT'"
    floppies node-remove-unknown node remove no-such-node
    expect_rc node-remove-unknown-exit-1 1
    installer uninstall uninstall --yes
    expect_rc uninstall-exit-0 0
    snapshot "$LOGS/after"
    compare nothing-left-behind "$LOGS/before" "$LOGS/after"
}

# bad_join CHECK FILE PATTERN: join FILE is refused by preflight (exit 4) with PATTERN, and nothing is installed.
bad_join() {
    installer "$1" join "$2" --yes
    expect_rc "$1-exit-4" 4
    expect_out "$1-says-why" "$3"
    check "$1-nothing-installed" "/opt/floppies or /etc/rancher exists after a refused join" test ! -e /opt/floppies -a ! -e /etc/rancher
}

agent_side() {
    ufw_on "$SERVER_IP"
    snapshot "$LOGS/before"
    if ! wait_mark server join-file 600 /root/join.json; then
        fail join-file-received "the server never offered a join file"
        return
    fi
    chmod 600 /root/join.json
    token=$(json_field /root/join.json token)
    build=$(json_field /root/join.json build)
    # Another cluster's: the CA hash in the token is not the server's.
    other=$(printf other | sha256sum | cut -d' ' -f1)
    sed "s/\"K10[0-9a-f]*::/\"K10$other::/" /root/join.json > /root/bad-ca.json
    bad_join bad-ca /root/bad-ca.json 'CA .*hash|hash .*CA'
    sed "s/\"build\": *\"[0-9a-f]*\"/\"build\": \"$other\"/" /root/join.json > /root/bad-build.json
    bad_join bad-build /root/bad-build.json "$(echo "$other" | cut -c1-12)"
    expect_out bad-build-names-this-build "$(echo "$build" | cut -c1-12)"
    sed "s|https://$SERVER_IP:6443|https://10.77.0.99:6443|" /root/join.json > /root/bad-server.json
    bad_join bad-server /root/bad-server.json '10\.77\.0\.99.*(not answer|no answer|did not answer)'
    sed 's/"expires_at": *"[0-9]*"/"expires_at": "1000000000"/' /root/join.json > /root/bad-expired.json
    bad_join bad-expired /root/bad-expired.json 'expired at 2001-09-09'
    head -c 120 /root/join.json > /root/bad-truncated.json
    bad_join bad-truncated /root/bad-truncated.json 'truncated|not a whole'
    # A dry run shows the plan and changes nothing (the comparison below covers it).
    installer join-dry join /root/join.json --dry-run
    expect_rc join-dry-exit-0 0
    expect_out join-dry-shows-plan 'Join plan: this machine \(agent\) joins'
    check join-dry-nothing-installed "/opt/floppies or /etc/rancher exists after a dry run" test ! -e /opt/floppies -a ! -e /etc/rancher
    check bad-output-no-token "a refusal or the dry run printed the token" sh -c "! grep -rqF -- '$token' '$LOGS'"
    rm -f /root/bad-*.json
    snapshot "$LOGS/after-refusals"
    compare refusals-changed-nothing "$LOGS/before" "$LOGS/after-refusals"

    installer join join /root/join.json --yes
    expect_rc join-exit-0 0
    expect_out join-says-agent 'agent'
    check join-no-token-in-output "join printed the token" sh -c "! grep -qF -- '$token' '$OUT'"
    check join-no-token-in-logs "a log under /var/log/floppies holds the token" sh -c "! grep -rqF -- '$token' /var/log/floppies"
    # The pattern from a file: a check with the token in its own arguments would find itself.
    printf '%s\n' "$token" > /tmp/token.pattern
    check join-no-token-on-command-lines "a process has the token on its command line" sh -c '! grep -alF -f /tmp/token.pattern /proc/[0-9]*/cmdline'
    rm -f /tmp/token.pattern
    check join-token-file-600 "k3s's token file is not mode 600" test "$(stat -c %a /etc/rancher/k3s/join-token 2>&1)" = 600
    check agent-no-admin-kubeconfig "an agent has k3s.yaml" test ! -e /etc/rancher/k3s/k3s.yaml
    check agent-no-app-manifest "an agent has the app's manifest" test ! -e /var/lib/rancher/k3s/server/manifests/floppies.yaml
    check agent-images-staged "the agent's images were not imported" grep -q 'quay.io/minio/minio' /var/lib/rancher/k3s/agent/containerd/imported.list
    run ufw-after-join ufw show added
    # From every machine of the network, not only the server: flannel's VXLAN runs between all of them.
    ufw_has ufw-rule-10250-tcp "from $GUEST_NET to any port 10250 proto tcp"
    ufw_has ufw-rule-8472-udp "from $GUEST_NET to any port 8472 proto udp"
    ufw_has ufw-rule-pods "from 10.42.0.0/16"
    check ufw-no-api-port-on-agent "the agent opened 6443" sh -c "! grep -q '6443' '$OUT'"
    floppies agent-status status
    expect_rc agent-status-healthy 0
    expect_out agent-status-names-cluster "agent agent of the cluster at https://$SERVER_IP:6443"
    run agent-status-json /usr/local/bin/floppies --json status
    check agent-status-json-role "status --json on the agent does not say role agent, node Ready" \
        sh -c "sed '1d;\$d' '$OUT' | python3 -c 'import json, sys; v = json.load(sys.stdin); sys.exit(not (v[\"role\"] == \"agent\" and v[\"node\"] == \"Ready\" and v[\"healthy\"]))'"
    mkdir -p /tmp/diag-agent
    floppies diagnose-agent diagnose --output /tmp/diag-agent
    expect_rc diagnose-agent-exit-0 0
    if diagnose_ok diagnose-agent /tmp/diag-agent; then
        check diagnose-agent-no-token "the agent's diagnose bundle holds the token" sh -c "! grep -rqF -- '$token' /tmp/diag-agent/x"
        check diagnose-agent-has-join-log "the agent's diagnose bundle lacks the join log" grep -rq 'floppies join' /tmp/diag-agent/x
    fi
    rm -rf /tmp/diag-agent
    run second-join sh "$BUNDLE" join /root/join.json --yes
    expect_rc second-join-exit-0 0
    expect_out second-join-unchanged 'unchanged'
    mark joined
    if ! wait_mark server listed 400; then
        fail server-listed "the server never listed the nodes"
    fi
    installer uninstall uninstall --yes
    expect_rc uninstall-exit-0 0
    expect_out uninstall-names-node-remove "node remove $GUEST"
    rm -f /root/join.json
    snapshot "$LOGS/after"
    compare nothing-left-behind "$LOGS/before" "$LOGS/after"
    mark uninstalled
    wait_mark server released 400 || info "the server did not read the agent's marks within 400 s"
}

case ${GUEST:-} in
    server) server_side ;;
    agent) agent_side ;;
    *) fail guests "this scenario needs the guests server and agent (test-vm/run gives them with '# guests:')" ;;
esac
scenario_end
