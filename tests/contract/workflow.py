"""The seed's workflow, driven by a client that openapi-python-client
generated from the served OpenAPI document -- no hand-written HTTP.

    python3 workflow.py PACKAGE_DIR BASE_URL EMAIL PASSWORD

PACKAGE_DIR is the generated package (imported as `cc_client`). Every
step checks the typed answer; the last line printed is a JSON summary the
Rust test checks against the database. Exits non-zero on the first
surprise.
"""

import datetime
import importlib
import json
import os
import sys
import time
import uuid


def main() -> None:
    package_dir, base, email, password = sys.argv[1:5]
    sys.path.insert(0, os.path.dirname(os.path.abspath(package_dir)))
    name = os.path.basename(os.path.abspath(package_dir))
    cc = importlib.import_module(name)

    def api(module: str):
        return importlib.import_module(f"{name}.api.{module}")

    models = importlib.import_module(f"{name}.models")
    problem_type = models.ProblemDocument

    def expect(response, status: int, kind, what: str):
        assert response.status_code == status, (
            f"{what}: {response.status_code} {response.content[:500]!r}"
        )
        assert isinstance(response.parsed, kind), (
            f"{what}: parsed as {type(response.parsed).__name__}, not {kind.__name__}"
        )
        print(f"ok  {what}: {status} {kind.__name__}", flush=True)
        return response.parsed

    anonymous = cc.Client(base_url=base, raise_on_unexpected_status=True)

    # 1. A bearer token for the operator.
    r = api("auth.issue_token").sync_detailed(
        client=anonymous, body=models.TokenRequest(email=email, password=password)
    )
    token = expect(r, 201, models.TokenResponse, "issue_token").token
    admin = cc.AuthenticatedClient(
        base_url=base, token=token, raise_on_unexpected_status=True
    )

    # 2. A customer; a bad VAT id first: 422 as a problem document.
    r = api("customers.create_customer").sync_detailed(
        client=admin,
        body=models.CustomerInput(name="Contract Oy", vat_id="1234567-0"),
    )
    p = expect(r, 422, problem_type, "create_customer with a bad VAT id")
    assert p.code == "validation_failed", p.code
    assert any(e.field == "vat_id" for e in p.errors), p.errors
    r = api("customers.create_customer").sync_detailed(
        client=admin,
        body=models.CustomerInput(
            name="Contract Oy",
            vat_id="0112038-9",
            street_address="Testikatu 1",
            postal_code="00100",
            postal_area="Helsinki",
            username_prefix="contract-",
        ),
    )
    customer = expect(r, 201, models.Customer, "create_customer")

    # 3. A license: the enums and dates are the generated types.
    valid_to = datetime.date.today() + datetime.timedelta(days=365)
    r = api("licenses.create_license").sync_detailed(
        id=uuid.UUID(str(customer.id)),
        client=admin,
        body=models.LicenseInput(
            type_=models.LicenseType.PURCHASED,
            state=models.LicenseState.ACTIVE,
            standard_seats=2,
            server_seats=1,
            valid_to=valid_to,
        ),
    )
    license_ = expect(r, 201, models.License, "create_license")
    assert license_.type_ == models.LicenseType.PURCHASED, license_.type_
    assert license_.state == models.LicenseState.ACTIVE, license_.state
    assert license_.valid_to == valid_to, license_.valid_to
    assert license_.total_space_gb == 2 * 10 + 25, license_.total_space_gb

    # 4. An invite (the prefix is put in front of the username).
    new_invite = models.NewInvite(
        username="anna",
        email="anna@example.com",
        software_type=models.SoftwareType.STANDARD,
        store_deleted_days=30,
    )
    r = api("invites.create_invite").sync_detailed(
        id=uuid.UUID(str(license_.id)), client=admin, body=new_invite
    )
    invite = expect(r, 201, models.Invite, "create_invite")
    assert invite.username == "contract-anna", invite.username
    code = invite.activation_code
    assert isinstance(code, str) and code, "the answer carries the activation code"

    # The same username again: 409 as a problem document.
    r = api("invites.create_invite").sync_detailed(
        id=uuid.UUID(str(license_.id)), client=admin, body=new_invite
    )
    p = expect(r, 409, problem_type, "create_invite with a taken username")
    assert p.code == "username_taken", p.code

    # 5. Send it, and follow its delivery state until the mail server has it.
    r = api("invites.send_invites").sync_detailed(
        client=admin,
        body=models.SendRequest(invite_ids=[uuid.UUID(str(invite.id))]),
    )
    report = expect(r, 202, models.SendReport, "send_invites")
    assert [str(i) for i in report.queued] == [str(invite.id)], report
    deadline = time.time() + 60
    while True:
        r = api("invites.get_invite").sync_detailed(
            id=uuid.UUID(str(invite.id)), client=admin
        )
        seen = expect(r, 200, models.Invite, "get_invite")
        if seen.delivery_state == "sent":
            assert isinstance(seen.sent_at, datetime.datetime), seen.sent_at
            break
        assert seen.delivery_state in ("queued", "retrying"), seen.delivery_state
        assert time.time() < deadline, "the invitation was not sent in 60 s"
        time.sleep(0.2)

    # 6. The backup client activates with the code (case and dashes as a
    #    person types them do not matter).
    r = api("client.activate_client").sync_detailed(
        client=anonymous,
        body=models.ActivateRequest(
            username="Contract-Anna",
            activation_code=code.lower(),
            hostname="anna-laptop",
            os="linux",
            client_version="contract-1.0",
        ),
    )
    activated = expect(r, 201, models.Activated, "activate_client")
    assert activated.software_type == models.SoftwareType.STANDARD
    assert activated.policy.license_state == models.LicenseState.ACTIVE
    machine = cc.AuthenticatedClient(
        base_url=base, token=activated.token, raise_on_unexpected_status=True
    )
    # The code is single use: 409 as a problem document.
    r = api("client.activate_client").sync_detailed(
        client=anonymous,
        body=models.ActivateRequest(
            username="contract-anna",
            activation_code=code,
            hostname="anna-laptop-2",
            os="linux",
        ),
    )
    p = expect(r, 409, problem_type, "activate_client with a used code")
    assert p.code == "invite_used", p.code

    r = api("client.get_client_policy").sync_detailed(client=machine)
    policy = expect(r, 200, models.Policy, "get_client_policy")
    assert str(policy.installation_id) == str(activated.installation_id)

    # 7. A backup run report (times are aware datetimes; the generated
    #    model writes them as RFC 3339).
    finished = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    r = api("client.report_backup_run").sync_detailed(
        client=machine,
        body=models.ReportInput(
            started_at=finished - datetime.timedelta(minutes=5),
            finished_at=finished,
            status=models.RunStatus.SUCCESS,
            bytes_total=1_234_567,
            bytes_uploaded=34_567,
            files_total=120,
            files_changed=3,
            message="contract run",
        ),
    )
    assert r.status_code == 204, (r.status_code, r.content[:500])
    print("ok  report_backup_run: 204", flush=True)

    # 8. Monitoring shows the installation with the run.
    r = api("monitoring.list_monitoring").sync_detailed(
        client=admin, customer_id=str(customer.id)
    )
    page = expect(r, 200, models.PageMonitoringEntry, "list_monitoring")
    assert len(page.items) == 1, page.items
    entry = page.items[0]
    assert isinstance(entry, models.MonitoringEntry), type(entry)
    assert str(entry.installation_id) == str(activated.installation_id)
    assert entry.hostname == "anna-laptop", entry.hostname
    assert entry.last_backup_status == "success", entry.last_backup_status
    assert entry.health == "ok", entry.health
    assert isinstance(entry.last_backup_at, datetime.datetime), entry.last_backup_at
    assert page.next_cursor is None, page.next_cursor

    print(
        json.dumps(
            {
                "customer_id": str(customer.id),
                "license_id": str(license_.id),
                "invite_id": str(invite.id),
                "installation_id": str(activated.installation_id),
                "health": str(entry.health),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
